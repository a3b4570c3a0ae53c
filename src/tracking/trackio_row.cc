#include "tracking/trackio_row.h"
#include "util/bounded_json.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace bilmod {

std::string trackio_timestamp(std::chrono::system_clock::time_point time) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  long fraction = static_cast<long>(micros % 1000000);
  if (fraction < 0) {
    fraction += 1000000;
    seconds -= 1;
  }
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];  // room for any int the compiler cannot rule out, so no truncation is possible
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, fraction);
  return text;
}

double parse_trackio_timestamp(const std::string& timestamp) {
  std::tm utc{};
  int consumed = 0;
  if (std::sscanf(timestamp.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &utc.tm_year, &utc.tm_mon, &utc.tm_mday, &utc.tm_hour,
                  &utc.tm_min, &utc.tm_sec, &consumed) != 6)
    return std::numeric_limits<double>::quiet_NaN();
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  double seconds = static_cast<double>(timegm(&utc));
  const char* rest = timestamp.c_str() + consumed;
  if (*rest == '.') {
    double scale = 0.1;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10) seconds += (*rest - '0') * scale;
  }
  // trackio writes UTC; a "+HH:MM" offset other than zero (a hand-made store) is honoured.
  int sign = 0, hours = 0, minutes = 0;
  if (*rest == '+') sign = 1;
  if (*rest == '-') sign = -1;
  if (sign != 0 && std::sscanf(rest + 1, "%2d:%2d", &hours, &minutes) == 2)
    seconds -= sign * (hours * 3600.0 + minutes * 60.0);
  return seconds;
}

namespace {
nlohmann::json spell_non_finite(const nlohmann::json& value) {
  if (value.is_number_float()) {
    const double x = value.get<double>();
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  }
  return value;
}
}  // namespace

std::string trackio_metrics_json(const nlohmann::json& metrics) {
  nlohmann::json out = nlohmann::json::object();
  for (auto it = metrics.begin(); it != metrics.end(); ++it) out[it.key()] = spell_non_finite(it.value());
  return out.dump();
}

bool metric_as_number(const nlohmann::json& value, double* out) {
  if (value.is_number()) {
    *out = value.get<double>();
    return true;
  }
  if (value.is_boolean()) {
    *out = value.get<bool>() ? 1.0 : 0.0;
    return true;
  }
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s == "NaN")
      *out = std::numeric_limits<double>::quiet_NaN();
    else if (s == "Infinity")
      *out = std::numeric_limits<double>::infinity();
    else if (s == "-Infinity")
      *out = -std::numeric_limits<double>::infinity();
    else
      return false;
    return true;
  }
  return false;
}

nlohmann::json parse_trackio_metrics(const std::string& text) {
  // Python's json module writes bare NaN/Infinity when a writer forgets to spell them as strings; accept
  // those too rather than dropping the row.
  nlohmann::json parsed = parse_json_bounded(text, kTrackingJsonDepth);
  if (parsed.is_discarded()) {
    std::string patched = text;
    for (const auto& [bare, quoted] :
         {std::pair<std::string, std::string>{"-Infinity", "\"-Infinity\""}, {"NaN", "\"NaN\""}}) {
      for (size_t at = patched.find(bare); at != std::string::npos; at = patched.find(bare, at + quoted.size())) {
        if (at > 0 && patched[at - 1] == '"') continue;
        patched.replace(at, bare.size(), quoted);
      }
    }
    for (size_t at = patched.find("Infinity"); at != std::string::npos; at = patched.find("Infinity", at + 10)) {
      if (at > 0 && (patched[at - 1] == '"' || patched[at - 1] == '-')) continue;
      patched.replace(at, 8, "\"Infinity\"");
    }
    parsed = parse_json_bounded(patched, kTrackingJsonDepth);
  }
  if (!parsed.is_object()) return nlohmann::json::object();
  for (auto it = parsed.begin(); it != parsed.end(); ++it) {
    double x;
    if (it.value().is_string() && metric_as_number(it.value(), &x)) it.value() = x;
  }
  return parsed;
}

}  // namespace bilmod
