#include "analysis/training_curves.h"

#include <cmath>
#include <limits>
#include <memory>

#include "tracking/tracking_folder.h"
#include "tracking/trackio_store.h"

namespace bilmod {

namespace {
// A plotted value: a finite number, NaN for anything else (a non-finite loss, a value that is not a number).
double metric_value(const nlohmann::json& v) {
  if (v.is_number() && std::isfinite(v.get<double>())) return v.get<double>();
  return std::numeric_limits<double>::quiet_NaN();
}
}  // namespace

Status read_training_curves(const TrainingState& state, TrainingCurves* out) {
  if (state.config().no_track) return Status::runtime("the run was trained with --no-track");
  if (state.run_id.empty()) return Status::runtime("the checkpoint names no run");
  // The folder train wrote to: the same resolver, the same environment.
  std::unique_ptr<TrackioStore> store;
  BILMOD_TRY(TrackioStore::open_for_reading(resolve_tracking_dir(state.config().tracking_dir), state.config().project,
                                            &store));
  std::vector<StoredRow> rows;
  BILMOD_TRY(store->read_epoch_rows(state.run_id, &rows));
  TrainingCurves curves;
  curves.database = store->path();
  for (const StoredRow& row : rows) {
    if (!row.metrics.contains("epoch") || !row.metrics["epoch"].is_number()) continue;
    const size_t n = curves.epoch.size();
    curves.epoch.push_back(row.metrics["epoch"].get<double>());
    for (const auto& [key, value] : row.metrics.items()) {
      if (key == "epoch") continue;
      auto& values = curves.metrics[key];
      values.resize(n, std::numeric_limits<double>::quiet_NaN());
      values.push_back(metric_value(value));
    }
    for (auto& [key, values] : curves.metrics) values.resize(n + 1, std::numeric_limits<double>::quiet_NaN());
  }
  if (curves.epoch.empty()) return Status::runtime(curves.database + " holds no epoch rows for run " + state.run_id);
  *out = std::move(curves);
  return Status::ok();
}

}  // namespace bilmod
