#include "tracking/run_export.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace bilmod {

namespace {

struct StepRecord {
  std::string timestamp;  // the step's last row's
  nlohmann::json metrics = nlohmann::json::object();
};

// Rows of one step merge; a key written twice at one step keeps its last value (the order rows were written).
std::map<int64_t, StepRecord> merge_by_step(const std::vector<StoredRow>& rows, std::set<std::string>* keys) {
  std::map<int64_t, StepRecord> steps;
  for (const StoredRow& row : rows) {
    StepRecord& record = steps[row.step];
    record.timestamp = row.timestamp;
    for (auto it = row.metrics.begin(); it != row.metrics.end(); ++it) {
      record.metrics[it.key()] = it.value();
      if (keys) keys->insert(it.key());
    }
  }
  return steps;
}

std::string csv_cell(const nlohmann::json& value) {
  double x;
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (metric_as_number(value, &x)) {
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    // The shortest text that reads back as the same double (0.003, not 0.0030000000000000001).
    char text[40];
    const auto result = std::to_chars(text, text + sizeof text, x);
    return std::string(text, result.ptr);
  }
  if (value.is_null()) return "";
  // Anything else (a string, a nested object from a trackio media log) is quoted, quotes doubled (RFC 4180).
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string csv_header_cell(const std::string& key) {
  if (key.find_first_of(",\"\n") == std::string::npos) return key;
  return csv_cell(nlohmann::json(key));
}

}  // namespace

std::string export_csv(const std::vector<StoredRow>& rows) {
  std::set<std::string> keys;
  const auto steps = merge_by_step(rows, &keys);
  keys.erase("step");
  keys.erase("timestamp");
  std::string out = "step,timestamp";
  for (const std::string& key : keys) out += "," + csv_header_cell(key);
  out += "\n";
  for (const auto& [step, record] : steps) {
    out += std::to_string(step) + "," + record.timestamp;
    for (const std::string& key : keys) {
      out += ",";
      if (record.metrics.contains(key)) out += csv_cell(record.metrics[key]);
    }
    out += "\n";
  }
  return out;
}

std::string export_jsonl(const std::vector<StoredRow>& rows) {
  const auto steps = merge_by_step(rows, nullptr);
  std::string out;
  for (const auto& [step, record] : steps) {
    // Ordered so that each line starts with its step and time, as a person reading the file expects.
    nlohmann::ordered_json line = {{"step", step}, {"timestamp", record.timestamp}};
    for (auto it = record.metrics.begin(); it != record.metrics.end(); ++it) {
      if (it.key() == "step" || it.key() == "timestamp") continue;
      const nlohmann::json& v = it.value();
      if (v.is_number_float() && !std::isfinite(v.get<double>()))
        line[it.key()] = std::isnan(v.get<double>()) ? "NaN" : (v.get<double>() > 0 ? "Infinity" : "-Infinity");
      else
        line[it.key()] = nlohmann::ordered_json(v);
    }
    out += line.dump() + "\n";
  }
  return out;
}

}  // namespace bilmod
