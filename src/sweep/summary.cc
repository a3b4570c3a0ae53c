#include "sweep/summary.h"

#include <filesystem>

#include "util/atomic_file.h"

namespace bilmod {

using nlohmann::json;

namespace {
// The metrics of the last evaluation that the summary carries, under the names docs/MODELS.md gives them.
const char* const kMetricColumns[][2] = {{"train_loss", "train/loss"},
                                         {"train_accuracy", "train/accuracy"},
                                         {"val_loss", "val/loss"},
                                         {"val_accuracy", "val/accuracy"},
                                         {"weight_norm", "weight_norm"}};
}  // namespace

std::vector<std::string> summary_columns(const std::vector<std::string>& axis_keys) {
  std::vector<std::string> columns = {"index", "run"};
  columns.insert(columns.end(), axis_keys.begin(), axis_keys.end());
  for (const char* c : {"status", "stopped_early", "epochs", "steps"}) columns.push_back(c);
  for (const auto& m : kMetricColumns) columns.push_back(m[0]);
  for (const char* c : {"val_acc_0.99_epoch", "train_acc_0.99_epoch", "wall_seconds", "run_id", "message"})
    columns.push_back(c);
  return columns;
}

json summary_row(const RunSpec& run, const RunResult* r) {
  json row = {{"index", run.index}, {"run", run.key}};
  for (auto it = run.settings.begin(); it != run.settings.end(); ++it) row[it.key()] = it.value();
  row["status"] = r ? run_status_name(r->status) : "pending";
  row["stopped_early"] = r ? json(r->stopped_early) : json(nullptr);
  row["epochs"] = r ? json(r->epochs) : json(nullptr);
  row["steps"] = r ? json(r->steps) : json(nullptr);
  for (const auto& m : kMetricColumns) {
    const bool has = r && r->metrics.contains(m[1]) && r->metrics.at(m[1]).is_number();
    row[m[0]] = has ? r->metrics.at(m[1]) : json(nullptr);
  }
  row["val_acc_0.99_epoch"] = r && r->val_milestone_epoch ? json(*r->val_milestone_epoch) : json(nullptr);
  row["train_acc_0.99_epoch"] = r && r->train_milestone_epoch ? json(*r->train_milestone_epoch) : json(nullptr);
  row["wall_seconds"] = r ? json(r->wall_seconds) : json(nullptr);
  row["run_id"] = r ? json(r->run_id) : json(nullptr);
  row["message"] = r ? json(r->message) : json("");
  return row;
}

std::string csv_field(const json& value) {
  if (value.is_null()) return "";
  if (!value.is_string()) return value.dump();
  const std::string s = value.get<std::string>();
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char c : s) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

Status write_summary(const std::string& output_dir, const std::string& name, const std::vector<std::string>& axis_keys,
                     const std::vector<RunSpec>& runs, const std::map<int64_t, RunResult>& results) {
  const std::vector<std::string> columns = summary_columns(axis_keys);
  json rows = json::array();
  std::string csv;
  for (size_t c = 0; c < columns.size(); ++c) csv += (c ? "," : "") + csv_field(columns[c]);
  csv += "\n";
  for (const RunSpec& run : runs) {
    const auto found = results.find(run.index);
    const json row = summary_row(run, found == results.end() ? nullptr : &found->second);
    for (size_t c = 0; c < columns.size(); ++c) csv += (c ? "," : "") + csv_field(row.value(columns[c], json(nullptr)));
    csv += "\n";
    rows.push_back(row);
  }
  const json summary = {
      {"format", "bilmod-sweep-summary"},         {"format_version", 1}, {"name", name}, {"axes", axis_keys},
      {"milestone_accuracy", kMilestoneAccuracy}, {"runs", rows}};
  BILMOD_TRY(
      write_file_atomically((std::filesystem::path(output_dir) / "summary.json").string(), summary.dump(2) + "\n"));
  return write_file_atomically((std::filesystem::path(output_dir) / "summary.csv").string(), csv);
}

}  // namespace bilmod
