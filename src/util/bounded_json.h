// JSON read from a file or database that bilmod did not write itself (a checkpoint's metadata, a tracking store's
// rows, a sweep's records): parsed with a bound on nesting, since copying, printing or destroying a value recurses
// once per level and a crafted text a few hundred KB long must not exhaust the stack.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace bilmod {

// Tracking rows, configs, sweep records and grid files are flat dicts of settings and values: 64 levels is far beyond
// them.
constexpr int kTrackingJsonDepth = 64;

// The parsed value, or a discarded one when the text is not JSON or nests deeper than max_depth. Json: nlohmann::json,
// or nlohmann::ordered_json where the order of keys matters (a grid file's axes).
template <class Json = nlohmann::json>
Json parse_json_bounded(const std::string& text, int max_depth) {
  bool too_deep = false;
  // The callback sees each value as it opens: returning false past the bound stops the parser from descending.
  auto json = Json::parse(
      text,
      [&too_deep, max_depth](int depth, typename Json::parse_event_t, Json&) {
    return !(too_deep |= depth > max_depth);
      },
      false);
  return too_deep ? Json(Json::value_t::discarded) : json;
}

}  // namespace bilmod
