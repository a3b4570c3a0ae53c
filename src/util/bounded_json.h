// JSON read from a file or database that bilmod did not write itself (a checkpoint's metadata, a tracking store's
// rows, a sweep's records): parsed with a bound on nesting, since copying, printing or destroying a value recurses
// once per level and a crafted text a few hundred KB long must not exhaust the stack.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace bilmod {

// Tracking rows, configs and sweep records are flat dicts of settings and metrics: 64 levels is far beyond them.
constexpr int kTrackingJsonDepth = 64;

// The parsed value, or a discarded one when the text is not JSON or nests deeper than max_depth.
nlohmann::json parse_json_bounded(const std::string& text, int max_depth);

}  // namespace bilmod
