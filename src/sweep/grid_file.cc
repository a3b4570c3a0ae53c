#include "sweep/grid_file.h"

#include <sstream>

#ifdef BILMOD_HAVE_TOML
#include <toml++/toml.h>
#endif

#include "util/bounded_json.h"
#include "util/read_file.h"

namespace bilmod {

using nlohmann::json;
using ordered = nlohmann::ordered_json;

namespace {
// ordered_json keeps a JSON file's key order (the axes' order); the rest of bilmod speaks json.
json plain(const ordered& value) { return json::parse(value.dump()); }
}  // namespace

bool toml_supported() {
#ifdef BILMOD_HAVE_TOML
  return true;
#else
  return false;
#endif
}

Status toml_to_json(const std::string& text, const std::string& origin, json* out) {
#ifdef BILMOD_HAVE_TOML
  try {
    const toml::table table = toml::parse(text, origin);
    std::ostringstream as_json;
    as_json << toml::json_formatter{table};
    *out = json::parse(as_json.str());
    return Status::ok();
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::usage("--grid-file " + origin + ":" + std::to_string(where.line) + ":" +
                         std::to_string(where.column) + ": " + std::string(e.description()));
  } catch (const json::exception& e) {
    return Status::usage("--grid-file " + origin + ": " + e.what());
  }
#else
  (void)text;
  (void)out;
  return Status::usage("--grid-file " + origin +
                       ": this bilmod was built without TOML support (install "
                       "libtomlplusplus-dev and rebuild), or write the same sweep as JSON");
#endif
}

Status load_grid_file(const std::string& path, SweepSpec* spec) {
  std::string text;
  if (Status read = read_file_text(path, "grid file (.json or .toml)", &text); !read)
    return Status::usage("--grid-file " + read.message());
  ordered doc;
  const bool is_toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
  if (is_toml) {
    json converted;
    BILMOD_TRY(toml_to_json(text, path, &converted));
    doc = ordered::parse(converted.dump());
  } else {
    // A grid file may come from anywhere: nesting is bounded (copying a value recurses once per level).
    doc = parse_json_bounded<ordered>(text, kTrackingJsonDepth);
    if (doc.is_discarded()) {
      try {
        (void)ordered::parse(text);  // the parser's own words for what is wrong, when it is the syntax
      } catch (const json::exception& e) {
        return Status::usage("--grid-file " + path + " is not valid JSON (" + e.what() + "); a .toml name reads TOML");
      }
      return Status::usage("--grid-file " + path + " nests deeper than " + std::to_string(kTrackingJsonDepth) +
                           " levels");
    }
  }
  if (!doc.is_object())
    return Status::usage("--grid-file " + path + " must hold an object with 'grid', 'fixed', 'seeds'");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& field = it.key();
    const ordered& value = it.value();
    auto where = [&](const Status& s) { return Status::usage("--grid-file " + path + ": " + s.message()); };
    if (field == "name") {
      if (!value.is_string()) return Status::usage("--grid-file " + path + ": 'name' must be a string");
      spec->name = value.get<std::string>();
    } else if (field == "grid") {
      if (!value.is_object()) return Status::usage("--grid-file " + path + ": 'grid' must map setting names to values");
      // A JSON file's axes keep their order (ordered_json); toml++ tables are sorted, so a TOML file's axes come
      // out alphabetically. The order fixes run order, folder names and the default phase-diagram axes, no result.
      for (auto axis = value.begin(); axis != value.end(); ++axis) {
        GridAxis parsed;
        if (Status s = setting_key(axis.key(), &parsed.key); !s) return where(s);
        if (Status s = parse_axis_values(parsed.key, plain(axis.value()), &parsed.values); !s) return where(s);
        spec->axes.push_back(std::move(parsed));
      }
    } else if (field == "fixed") {
      if (!value.is_object())
        return Status::usage("--grid-file " + path + ": 'fixed' must map setting names to values");
      for (auto setting = value.begin(); setting != value.end(); ++setting) {
        std::string key;
        if (Status s = setting_key(setting.key(), &key); !s) return where(s);
        std::vector<json> values;
        if (Status s = parse_axis_values(key, plain(setting.value()), &values); !s) return where(s);
        if (values.size() != 1)
          return Status::usage("--grid-file " + path + ": fixed setting '" + setting.key() +
                               "' must be one value; put lists under 'grid'");
        spec->fixed[key] = values[0];
      }
    } else if (field == "seeds") {
      GridAxis seeds{"seed", {}};
      if (value.is_string()) {
        if (Status s = parse_seed_list(value.get<std::string>(), &seeds.values); !s) return where(s);
      } else if (Status s = parse_axis_values("seed", plain(value), &seeds.values); !s) {
        return where(s);
      }
      spec->axes.push_back(std::move(seeds));
    } else if (field == "stop_at_val_acc" || field == "stop-at-val-acc") {
      if (!value.is_number()) return Status::usage("--grid-file " + path + ": 'stop_at_val_acc' must be a number");
      spec->stop_at_val_acc = value.get<double>();
    } else if (field == "patience") {
      if (!value.is_number_integer()) return Status::usage("--grid-file " + path + ": 'patience' must be an integer");
      spec->patience = value.get<int64_t>();
    } else {
      return Status::usage("--grid-file " + path + ": unknown field '" + field +
                           "' (known: name, grid, fixed, seeds, stop_at_val_acc, patience)");
    }
  }
  return Status::ok();
}

}  // namespace bilmod
