// --grid-file: a sweep written down, as JSON or TOML (the same structure in both):
//   name = "wd-x-frac"                      # optional; the command line's --name wins
//   seeds = "0-4"                           # or [0, 1, 2]
//   stop_at_val_acc = 0.99                  # optional, with patience = 5
//   [grid]                                  # axes in file order, first outermost
//   weight-decay = [0.1, 0.3, 1.0]
//   train-frac = "0.2:0.8:0.1"              # a range string, inclusive
//   [fixed]                                 # every other train setting, one value each
//   model = "factored"
// TOML is read with toml++ when the build found it (Debian's libtomlplusplus-dev); without it a .toml file is a
// clear usage error naming the JSON alternative.
#pragma once
#include <string>

#include "sweep/sweep_spec.h"
#include "util/status.h"

namespace bilmod {

// Fills spec (name if given, axes, fixed settings, early stop) from the file; seeds become the last axis.
Status load_grid_file(const std::string& path, SweepSpec* spec);

// Whether this build reads TOML (toml++ found at build time).
bool toml_supported();

// The TOML text as the equivalent JSON (exposed for tests).
Status toml_to_json(const std::string& text, const std::string& origin, nlohmann::json* out);

}  // namespace bilmod
