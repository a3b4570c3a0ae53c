#include "analysis/training_curves.h"

#include <sqlite3.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

namespace bilmod {

namespace fs = std::filesystem;

namespace {
std::string tracking_folder(const RunConfig& config) {
  if (!config.tracking_dir.empty()) return config.tracking_dir;
  if (const char* d = std::getenv("TRACKIO_DIR"); d && *d) return d;
  if (const char* h = std::getenv("HF_HOME"); h && *h) return (fs::path(h) / "trackio").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home ? home : ".") / ".cache" / "huggingface" / "trackio").string();
}

double metric_value(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  return std::numeric_limits<double>::quiet_NaN();  // "NaN", "Infinity" strings, or anything else
}
}  // namespace

Status read_training_curves(const TrainingState& state, TrainingCurves* out) {
  if (state.config.no_track) return Status::runtime("the run was trained with --no-track");
  if (state.run_id.empty()) return Status::runtime("the checkpoint names no run");
  const std::string db = (fs::path(tracking_folder(state.config)) / (state.config.project + ".db")).string();
  std::error_code ec;
  if (!fs::exists(db, ec)) return Status::runtime("no tracking store at " + db);
  sqlite3* handle = nullptr;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    const std::string why = handle ? sqlite3_errmsg(handle) : "out of memory";
    sqlite3_close(handle);
    return Status::runtime(db + ": cannot open (" + why + ")");
  }
  sqlite3_busy_timeout(handle, 30000);
  sqlite3_stmt* stmt = nullptr;
  const char* sql = "SELECT metrics FROM metrics WHERE run_id = ? ORDER BY step, id";
  if (sqlite3_prepare_v2(handle, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    const std::string why = sqlite3_errmsg(handle);
    sqlite3_close(handle);
    return Status::runtime(db + ": cannot read metrics (" + why + ")");
  }
  sqlite3_bind_text(stmt, 1, state.run_id.c_str(), -1, SQLITE_TRANSIENT);
  TrainingCurves curves;
  curves.database = db;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (!text) continue;
    const auto row = nlohmann::json::parse(reinterpret_cast<const char*>(text), nullptr, false);
    if (!row.is_object() || !row.contains("epoch") || !row["epoch"].is_number()) continue;  // step rows
    const size_t n = curves.epoch.size();
    curves.epoch.push_back(row["epoch"].get<double>());
    for (const auto& [key, value] : row.items()) {
      if (key == "epoch") continue;
      auto& values = curves.metrics[key];
      values.resize(n, std::numeric_limits<double>::quiet_NaN());
      values.push_back(metric_value(value));
    }
    for (auto& [key, values] : curves.metrics) values.resize(n + 1, std::numeric_limits<double>::quiet_NaN());
  }
  sqlite3_finalize(stmt);
  sqlite3_close(handle);
  if (curves.epoch.empty()) return Status::runtime(db + " holds no epoch rows for run " + state.run_id);
  *out = std::move(curves);
  return Status::ok();
}

}  // namespace bilmod
