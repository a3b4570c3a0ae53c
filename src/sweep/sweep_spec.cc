#include "sweep/sweep_spec.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

namespace bilmod {

namespace {

using nlohmann::json;

// The sweep decides these per run (each run's own folder, name and log), so a user may not set them.
const std::set<std::string> kSetBySweep = {"checkpoint_dir", "resume_from", "run_name", "log_file"};
// Settings that describe where and how a run reports, not what it computes: one value for the whole sweep.
const std::set<std::string> kNotSweepable = {"no_progress", "project", "group",    "tracking_dir",
                                             "no_track",    "threads", "log_level"};

const json& default_settings() {
  static const json defaults = to_json(RunConfig{});
  return defaults;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(sep, begin);
    parts.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return parts;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Strict number parsing (ninja's habit): the whole text must be the number.
bool parse_int64(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != 0) return false;
  *out = v;
  return true;
}

bool parse_double(const std::string& text, double* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != 0 || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// A range's k-th value rounded to 12 significant digits, so 0.2 + 3 * 0.1 is 0.5 and not 0.5000000000000001.
double rounded(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", value);
  return std::strtod(buf, nullptr);
}

Status bad_value(const std::string& key, const std::string& text, const std::string& want) {
  return Status::usage("--" + flag_name(key) + " value '" + text + "' is not " + want);
}

// One scalar token converted to the type of the setting's default.
Status convert_token(const std::string& key, const std::string& raw, json* value) {
  const std::string text = trim(raw);
  const json& model = default_settings().at(key);
  if (model.is_boolean()) {
    if (text == "true" || text == "1")
      *value = true;
    else if (text == "false" || text == "0")
      *value = false;
    else
      return bad_value(key, text, "true or false");
  } else if (model.is_number_unsigned()) {
    int64_t v = 0;
    if (!parse_int64(text, &v) || v < 0) return bad_value(key, text, "a non-negative integer");
    *value = static_cast<uint64_t>(v);
  } else if (model.is_number_integer()) {
    int64_t v = 0;
    if (!parse_int64(text, &v)) return bad_value(key, text, "an integer");
    *value = v;
  } else if (model.is_number_float()) {
    double v = 0;
    if (!parse_double(text, &v)) return bad_value(key, text, "a finite number");
    *value = v;
  } else {
    if (text.empty()) return bad_value(key, text, "a non-empty string");
    *value = text;
  }
  return Status::ok();
}

// "START:STOP:STEP", inclusive of STOP (the 0.2:0.8:0.1 means seven fractions).
Status expand_range(const std::string& key, const std::string& text, std::vector<json>* values) {
  const std::vector<std::string> parts = split(text, ':');
  const json& model = default_settings().at(key);
  if (parts.size() != 3 || !model.is_number())
    return Status::usage("--grid " + flag_name(key) + "=" + text + ": a range is START:STOP:STEP of a numeric setting");
  double start = 0, stop = 0, step = 0;
  if (!parse_double(trim(parts[0]), &start) || !parse_double(trim(parts[1]), &stop) ||
      !parse_double(trim(parts[2]), &step) || !(step > 0) || stop < start)
    return Status::usage("--grid " + flag_name(key) + "=" + text +
                         ": a range needs numbers START <= STOP and STEP > 0 (e.g. 0.2:0.8:0.1)");
  // The small slack keeps STOP when (STOP - START) / STEP is an integer up to rounding.
  const double count = std::floor((stop - start) / step + 1e-9) + 1;
  if (count > 100000) return Status::usage("--grid " + flag_name(key) + "=" + text + " has over 100000 values");
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) {
    const double v = rounded(start + static_cast<double>(i) * step);
    if (model.is_number_float()) {
      values->push_back(v);
    } else {
      if (v != std::floor(v))
        return Status::usage("--grid " + flag_name(key) + "=" + text + " gives the non-integer " +
                             format_setting_value(v) + " for an integer setting");
      if (model.is_number_unsigned()) {
        if (v < 0) return Status::usage("--grid " + flag_name(key) + "=" + text + " gives a negative value");
        values->push_back(static_cast<uint64_t>(v));
      } else {
        values->push_back(static_cast<int64_t>(v));
      }
    }
  }
  return Status::ok();
}

Status values_from_text(const std::string& key, const std::string& text, std::vector<json>* values) {
  if (text.find(':') != std::string::npos && default_settings().at(key).is_number())
    return expand_range(key, text, values);
  for (const std::string& token : split(text, ',')) {
    json value;
    BILMOD_TRY(convert_token(key, token, &value));
    values->push_back(value);
  }
  return Status::ok();
}

}  // namespace

Status setting_key(const std::string& name, std::string* key) {
  const std::string k = setting_name(name);
  if (!default_settings().contains(k))
    return Status::usage("'" + name + "' is not a bilmod train setting (see 'bilmod train --help')");
  *key = k;
  return Status::ok();
}

Status parse_axis_values(const std::string& key, const json& given, std::vector<json>* values) {
  values->clear();
  const json& model = default_settings().at(key);
  auto one = [&](const json& item) -> Status {
    if (item.is_string()) return values_from_text(key, item.get<std::string>(), values);
    // A JSON scalar: same type rules as text, so 1 for a float setting is 1.0 and 0.5 for an integer is an error.
    if (item.is_boolean() && model.is_boolean()) {
      values->push_back(item);
      return Status::ok();
    }
    if (item.is_number() && model.is_number()) {
      const std::string text = item.is_number_float() ? format_setting_value(item) : item.dump();
      json v;
      BILMOD_TRY(convert_token(key, text, &v));
      values->push_back(v);
      return Status::ok();
    }
    return Status::usage("--" + flag_name(key) + " value " + item.dump() + " has the wrong type (the default is " +
                         model.dump() + ")");
  };
  if (given.is_array()) {
    for (const json& item : given) BILMOD_TRY(one(item));
  } else {
    BILMOD_TRY(one(given));
  }
  if (values->empty()) return Status::usage("--grid " + flag_name(key) + " has no values");
  return Status::ok();
}

Status parse_grid_argument(const std::string& argument, GridAxis* axis) {
  const size_t eq = argument.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == argument.size())
    return Status::usage("--grid '" + argument +
                         "' must be NAME=V1,V2,... or NAME=START:STOP:STEP (e.g. weight-decay=0.1,0.3,1)");
  std::string key;
  BILMOD_TRY(setting_key(trim(argument.substr(0, eq)), &key));
  axis->key = key;
  return parse_axis_values(key, json(argument.substr(eq + 1)), &axis->values);
}

Status parse_seed_list(const std::string& text, std::vector<json>* values) {
  values->clear();
  for (const std::string& raw : split(text, ',')) {
    const std::string token = trim(raw);
    const size_t dash = token.find('-', 1);
    int64_t first = 0, last = 0;
    const bool ok = dash == std::string::npos
                        ? parse_int64(token, &first) && (last = first, true)
                        : parse_int64(token.substr(0, dash), &first) && parse_int64(token.substr(dash + 1), &last);
    if (!ok || first < 0 || last < first || last - first > 100000)
      return Status::usage("--seeds '" + text +
                           "' must be non-negative integers or inclusive ranges, e.g. 0-4 or 0,3,7");
    for (int64_t s = first; s <= last; ++s) values->push_back(static_cast<uint64_t>(s));
  }
  return Status::ok();
}

Status parse_fixed_value(const std::string& key, const std::string& text, json* value) {
  return convert_token(key, text, value);
}

std::string format_setting_value(const json& value) {
  if (value.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.12g", value.get<double>());
    return buf;
  }
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

Status expand_sweep(const SweepSpec& spec, const std::string& output_dir, std::vector<SweepRun>* runs) {
  runs->clear();
  if (spec.name.empty() ||
      spec.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
          std::string::npos)
    return Status::usage("sweep name '" + spec.name + "' may hold only letters, digits, '_', '.' and '-' (set --name)");
  std::set<std::string> seen;
  for (const GridAxis& axis : spec.axes) {
    if (kSetBySweep.count(axis.key) || kNotSweepable.count(axis.key))
      return Status::usage(
          "--grid " + flag_name(axis.key) + " cannot be swept: it is one value for the whole sweep" +
          (kSetBySweep.count(axis.key) ? std::string(" and the sweep sets it per run") : std::string()));
    if (!seen.insert(axis.key).second)
      return Status::usage("--" + flag_name(axis.key) +
                           " is swept twice (two --grid axes, or --grid seed and --seeds)");
    if (spec.fixed.contains(axis.key))
      return Status::usage("--" + flag_name(axis.key) + " is both swept (--grid) and fixed: give it once");
    // A repeated value would make two runs with one folder.
    std::set<std::string> distinct;
    for (const json& v : axis.values)
      if (!distinct.insert(format_setting_value(v)).second)
        return Status::usage("--grid " + flag_name(axis.key) + " lists " + format_setting_value(v) + " twice");
  }
  for (auto it = spec.fixed.begin(); it != spec.fixed.end(); ++it)
    if (kSetBySweep.count(it.key()))
      return Status::usage("--" + flag_name(it.key()) + " is set by the sweep for each run (DIR/RUN/...); drop it");
  if (!(spec.stop_at_val_acc >= 0 && spec.stop_at_val_acc <= 1))
    return Status::usage("--stop-at-val-acc must lie in [0, 1] (0: off), got " +
                         format_setting_value(spec.stop_at_val_acc));
  if (spec.patience < 1) return Status::usage("--patience must be at least 1, got " + std::to_string(spec.patience));

  int64_t total = 1;
  for (const GridAxis& axis : spec.axes) {
    total *= static_cast<int64_t>(axis.values.size());
    if (total > 1000000) return Status::usage("the grid has over a million runs: narrow it");
  }
  json base = default_settings();
  for (auto it = spec.fixed.begin(); it != spec.fixed.end(); ++it) base[it.key()] = it.value();
  if (!spec.fixed.contains("threads")) base["threads"] = 1;  // each run single-threaded: the sweep parallelises runs
  if (!spec.fixed.contains("group")) base["group"] = spec.name;
  base["no_progress"] = true;

  std::vector<size_t> digit(spec.axes.size(), 0);
  for (int64_t index = 0; index < total; ++index) {
    SweepRun run;
    run.index = index;
    run.settings = json::object();
    json settings = base;
    // Mixed-radix digits, the last axis fastest: the first axis is outermost.
    int64_t rest = index;
    for (size_t a = spec.axes.size(); a-- > 0;) {
      const auto n = static_cast<int64_t>(spec.axes[a].values.size());
      digit[a] = static_cast<size_t>(rest % n);
      rest /= n;
    }
    for (size_t a = 0; a < spec.axes.size(); ++a) {
      const json& value = spec.axes[a].values[digit[a]];
      settings[spec.axes[a].key] = value;
      run.settings[spec.axes[a].key] = value;
      run.key += (run.key.empty() ? "" : "_") + flag_name(spec.axes[a].key) + "=" + format_setting_value(value);
    }
    if (run.key.empty()) run.key = "run";
    // A folder name must not hold '/': string values (e.g. --operation x2+y2) are fine, paths are not swept.
    std::replace(run.key.begin(), run.key.end(), '/', '%');
    const std::filesystem::path dir = std::filesystem::path(output_dir) / run.key;
    settings["checkpoint_dir"] = (dir / "checkpoints").string();
    settings["log_file"] = (dir / "log.jsonl").string();
    settings["run_name"] = spec.name + "." + run.key;
    // A name no setting knows is config_from_json's usage Status: named after the run, as validate()'s.
    if (Status read = config_from_json(settings, &run.config); !read)
      return read.code() == ExitCode::kUsage ? Status::usage("run " + run.key + ": " + read.message()) : read;
    // --preset as in train: its values, under every setting the sweep fixes or sweeps.
    if (!run.config.preset.empty()) {
      std::vector<std::string> given;
      for (auto it = spec.fixed.begin(); it != spec.fixed.end(); ++it) given.push_back(it.key());
      for (const GridAxis& axis : spec.axes) given.push_back(axis.key);
      if (Status preset = apply_preset(run.config.preset, given, &run.config); !preset)
        return Status::usage("run " + run.key + ": " + preset.message());
    }
    if (Status valid = run.config.validate(); !valid) return Status::usage("run " + run.key + ": " + valid.message());
    runs->push_back(std::move(run));
  }
  return Status::ok();
}

}  // namespace bilmod
