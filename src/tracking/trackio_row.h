// One row of trackio's `metrics` table as bilmod writes and reads it (docs/FORMATS.md, "Tracking store"): the
// timestamp format, the per-row log id, and the JSON of the metrics with non-finite numbers spelled as
// trackio spells them.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace bilmod {

struct MetricsRow {
  int64_t step = 0;       // the global optimiser step
  std::string timestamp;  // UTC ISO-8601 with microseconds and +00:00
  std::string metrics;    // one flat JSON object, already in trackio's spelling
  std::string log_id;     // 32 hex chars, fresh per row: trackio's idempotency key
};

// "2026-11-25T16:12:24.123456+00:00"
std::string trackio_timestamp(std::chrono::system_clock::time_point time);
// Seconds since the epoch of a trackio timestamp (with or without fraction, "+00:00" or "Z"); NaN if unreadable.
double parse_trackio_timestamp(const std::string& timestamp);

// The metrics as trackio stores them: NaN, +inf and -inf become the strings "NaN", "Infinity", "-Infinity"
// (JSON has no such numbers; trackio writes these strings and turns them back into floats when it reads).
std::string trackio_metrics_json(const nlohmann::json& metrics);
// The inverse: parses a stored metrics object and turns those three strings back into numbers. A row that is
// not a JSON object becomes an empty object (a reader skips it rather than failing on one odd row).
nlohmann::json parse_trackio_metrics(const std::string& text);
// A metric's value as a number, if it is one (numbers, booleans and the three special strings); NaN otherwise.
bool metric_as_number(const nlohmann::json& value, double* out);

}  // namespace bilmod
