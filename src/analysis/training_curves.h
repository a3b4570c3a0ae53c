// A run's training curves from its tracking store (docs/FORMATS.md "Tracking store": trackio's SQLite schema),
// found from the checkpoint's config as training found it (tracking/tracking_folder.h); {project}.db; the rows of the
// checkpoint's run_id that carry an epoch.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "config/training_state.h"
#include "util/status.h"

namespace bilmod {

struct TrainingCurves {
  std::string database;  // the file read
  std::vector<double> epoch;
  std::map<std::string, std::vector<double>> metrics;  // name -> value per epoch row (NaN where a row lacks it)
};

// ok with curves filled, or a runtime Status saying why there are none (no store, no rows); never fatal.
Status read_training_curves(const TrainingState& state, TrainingCurves* out);

}  // namespace bilmod
