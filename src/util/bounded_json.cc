#include "util/bounded_json.h"

namespace bilmod {

nlohmann::json parse_json_bounded(const std::string& text, int max_depth) {
  bool too_deep = false;
  // The callback sees each value as it opens: returning false past the bound stops the parser from descending.
  auto json = nlohmann::json::parse(
      text,
      [&too_deep, max_depth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        return !(too_deep |= depth > max_depth);
      },
      false);
  return too_deep ? nlohmann::json(nlohmann::json::value_t::discarded) : json;
}

}  // namespace bilmod
