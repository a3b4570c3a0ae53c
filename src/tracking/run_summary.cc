#include "tracking/run_summary.h"

#include <cmath>

namespace bilmod {

namespace {
double number_or(const nlohmann::json& object, const char* key, double fallback) {
  double x;
  if (object.is_object() && object.contains(key) && metric_as_number(object[key], &x)) return x;
  return fallback;
}
}  // namespace

RunSummary summarise_run(const StoredRun& run, const std::vector<StoredRow>& epoch_rows) {
  RunSummary s;
  s.run = run;
  const nlohmann::json& config = run.config;
  if (config.is_object()) {
    if (config.contains("model") && config["model"].is_string()) s.model = config["model"];
    s.mod_basis = static_cast<int64_t>(number_or(config, "mod_basis", -1));
    s.epochs_planned = static_cast<int64_t>(number_or(config, "epochs", -1));
    if (config.contains("_Group") && config["_Group"].is_string()) s.group = config["_Group"];
  }
  for (const StoredRow& row : epoch_rows) {
    const double epoch = number_or(row.metrics, "epoch", NAN);
    if (std::isnan(epoch)) continue;
    s.epochs_done = static_cast<int64_t>(epoch);
    s.final_train_accuracy = number_or(row.metrics, "train/accuracy", -1);
    s.final_val_accuracy = number_or(row.metrics, "val/accuracy", -1);
    if (s.generalised_epoch < 0 && number_or(row.metrics, "val/accuracy", -1) >= kGeneralisedAccuracy)
      s.generalised_epoch = static_cast<int64_t>(epoch);
  }
  const double first = parse_trackio_timestamp(run.first_timestamp), last = parse_trackio_timestamp(run.last_timestamp);
  s.wall_seconds = std::isfinite(first) && std::isfinite(last) ? last - first : 0;
  return s;
}

Status summarise_runs(TrackioStore* store, std::vector<RunSummary>* summaries) {
  summaries->clear();
  std::vector<StoredRun> runs;
  BILMOD_TRY(store->list_runs(&runs));
  std::vector<StoredRow> epoch_rows;
  for (const StoredRun& run : runs) {
    BILMOD_TRY(store->read_epoch_rows(run.run_id, &epoch_rows));
    summaries->push_back(summarise_run(run, epoch_rows));
  }
  return Status::ok();
}

}  // namespace bilmod
