// The dashboard's JSON answers, apart from HTTP so they can be tested directly. Every one opens the project
// read-only: the dashboard never writes the store. Project names are checked against [A-Za-z0-9_-] and run ids
// are bound as SQL parameters, so no request can name a file outside the tracking folder.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace bilmod {

// [{"name", "runs", "last_logged"}] for every project in the folder.
nlohmann::json dashboard_projects(const std::string& tracking_dir);
// [{"run_id", "name", "group", "model", "mod_basis", "epochs_done", "epochs_planned", "train_accuracy",
//   "val_accuracy", "generalised_epoch", "rows", "last_row_id", "last_logged", "wall_seconds"}]
Status dashboard_runs(const std::string& tracking_dir, const std::string& project, nlohmann::json* out);
// {"run_id", "last_id", "rows": [[step, {metrics}], ...]}: the run's rows with id > after_id, in the order
// written, so a page polls for what is new. Non-finite numbers become null (JSON has no NaN).
Status dashboard_metrics(const std::string& tracking_dir, const std::string& project, const std::string& run_id,
                         int64_t after_id, nlohmann::json* out);

}  // namespace bilmod
