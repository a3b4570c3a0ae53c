// DIR/summary.csv and DIR/summary.json: one row per run of the sweep, in the sweep's order: its swept settings,
// status, final metrics, the epochs validation and train accuracy first reached 0.99, and wall time. Runs not
// (yet) run are listed as "pending", so the summary always has every run exactly once.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweep/run_record.h"
#include "sweep/sweep_spec.h"
#include "util/status.h"

namespace bilmod {

// The rows, as JSON objects with a fixed column order (summary_columns).
std::vector<std::string> summary_columns(const std::vector<std::string>& axis_keys);
nlohmann::json summary_row(const RunSpec& run, const RunResult* result);

// Writes both files atomically.
Status write_summary(const std::string& output_dir, const std::string& name, const std::vector<std::string>& axis_keys,
                     const std::vector<RunSpec>& runs, const std::map<int64_t, RunResult>& results);

// One CSV field: numbers as JSON writes them (round-trip exact), null empty, strings quoted when needed.
std::string csv_field(const nlohmann::json& value);

}  // namespace bilmod
