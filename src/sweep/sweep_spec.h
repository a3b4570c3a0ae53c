// What a sweep is: axes of values for some train settings (the grid, seeds last), fixed values for others, and
// the early-stop rule; expanded into the ordered list of runs, each an ordinary RunConfig.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/run_config.h"
#include "util/status.h"

namespace bilmod {

// The accuracy whose first epoch the summary reports for train and validation (the 0.99).
inline constexpr double kMilestoneAccuracy = 0.99;

struct GridAxis {
  std::string key;                     // RunConfig JSON key: "weight_decay"
  std::vector<nlohmann::json> values;  // typed like the setting's default (int, unsigned, float, string, bool)
};

struct SweepSpec {
  std::string name;                                 // the tracking group and the runs' name prefix
  std::vector<GridAxis> axes;                       // outermost first; `seed` (from --seeds) is put last
  nlohmann::json fixed = nlohmann::json::object();  // RunConfig key -> value, the same for every run
  double stop_at_val_acc = 0;                       // 0: no early stop
  int64_t patience = 1;  // consecutive evaluations at or above stop_at_val_acc before stopping
};

struct SweepRun {
  int64_t index = 0;        // position in the expansion (the summary's order)
  std::string key;          // "weight-decay=0.1_train-frac=0.2_seed=0": its folder and name suffix
  nlohmann::json settings;  // the swept keys' values for this run
  RunConfig config;         // complete, validated
};

// "weight-decay" or "weight_decay" -> "weight_decay" when it names a RunConfig setting; a usage Status otherwise.
Status setting_key(const std::string& name, std::string* key);

// One --grid argument "NAME=V1,V2,..." or "NAME=START:STOP:STEP" (inclusive of STOP up to rounding).
Status parse_grid_argument(const std::string& argument, GridAxis* axis);
// The values of `key` from text (a list or a range), or from a JSON value (array, number, string; strings may
// themselves be lists or ranges), each converted to the setting's type.
Status parse_axis_values(const std::string& key, const nlohmann::json& given, std::vector<nlohmann::json>* values);
// "0-4", "0,3,7", "0-2,10": non-negative integers, inclusive ranges.
Status parse_seed_list(const std::string& text, std::vector<nlohmann::json>* values);
// A fixed value given as text (from the command line), converted to the setting's type.
Status parse_fixed_value(const std::string& key, const std::string& text, nlohmann::json* value);

// A value as it appears in a run's key and the summary: integers plainly, floats with %.12g.
std::string format_setting_value(const nlohmann::json& value);

// The cartesian product of the axes (first axis outermost), every run's config checked with validate().
// checkpoint_dir, run_name, group, log_file and no_progress are set by the sweep from output_dir and the name.
Status expand_sweep(const SweepSpec& spec, const std::string& output_dir, std::vector<SweepRun>* runs);

}  // namespace bilmod
