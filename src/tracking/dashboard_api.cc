#include "tracking/dashboard_api.h"

#include <cmath>
#include <memory>

#include "tracking/run_summary.h"
#include "tracking/tracking_folder.h"
#include "tracking/trackio_store.h"

namespace bilmod {

nlohmann::json dashboard_projects(const std::string& tracking_dir) {
  nlohmann::json projects = nlohmann::json::array();
  for (const std::string& name : list_projects(tracking_dir)) {
    std::unique_ptr<TrackioStore> store;
    std::vector<StoredRun> runs;
    Status s = TrackioStore::open_for_reading(tracking_dir, name, &store);
    if (s) s = store->list_runs(&runs);
    nlohmann::json project = {{"name", name}};
    if (!s) {
      project["error"] = s.message();
    } else {
      std::string last;
      for (const StoredRun& run : runs) last = std::max(last, run.last_timestamp);
      project["runs"] = runs.size();
      project["last_logged"] = last;
    }
    projects.push_back(project);
  }
  return projects;
}

Status dashboard_runs(const std::string& tracking_dir, const std::string& project, nlohmann::json* out) {
  BILMOD_TRY(check_project_name(project, "project"));
  std::unique_ptr<TrackioStore> store;
  BILMOD_TRY(TrackioStore::open_for_reading(tracking_dir, project, &store));
  std::vector<RunSummary> summaries;
  BILMOD_TRY(summarise_runs(store.get(), &summaries));
  *out = nlohmann::json::array();
  auto or_null = [](double x, bool known) { return known ? nlohmann::json(x) : nlohmann::json(nullptr); };
  for (const RunSummary& s : summaries)
    out->push_back({{"run_id", s.run.run_id},
                    {"name", s.run.run_name},
                    {"group", s.group},
                    {"model", s.model},
                    {"mod_basis", s.mod_basis},
                    {"epochs_done", s.epochs_done},
                    {"epochs_planned", s.epochs_planned},
                    {"train_accuracy", or_null(s.final_train_accuracy, s.final_train_accuracy >= 0)},
                    {"val_accuracy", or_null(s.final_val_accuracy, s.final_val_accuracy >= 0)},
                    {"generalised_epoch", s.generalised_epoch},
                    {"rows", s.run.rows},
                    {"last_row_id", s.run.last_row_id},
                    {"last_logged", s.run.last_timestamp},
                    {"wall_seconds", s.wall_seconds}});
  return Status::ok();
}

Status dashboard_metrics(const std::string& tracking_dir, const std::string& project, const std::string& run_id,
                         int64_t after_id, nlohmann::json* out) {
  BILMOD_TRY(check_project_name(project, "project"));
  std::unique_ptr<TrackioStore> store;
  BILMOD_TRY(TrackioStore::open_for_reading(tracking_dir, project, &store));
  std::vector<StoredRow> rows;
  BILMOD_TRY(store->read_rows(run_id, after_id, &rows));
  nlohmann::json list = nlohmann::json::array();
  int64_t last_id = after_id;
  for (StoredRow& row : rows) {
    // Only numbers are drawn; anything else a trackio user logged (tables, media) stays out of the page.
    nlohmann::json numbers = nlohmann::json::object();
    for (auto it = row.metrics.begin(); it != row.metrics.end(); ++it) {
      double x;
      if (!metric_as_number(it.value(), &x)) continue;
      numbers[it.key()] = std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
    }
    list.push_back(nlohmann::json::array({row.step, std::move(numbers)}));
    last_id = std::max(last_id, row.id);
  }
  *out = {{"run_id", run_id}, {"last_id", last_id}, {"rows", std::move(list)}};
  return Status::ok();
}

}  // namespace bilmod
