// Two channels (docs/ARCHITECTURE.md "Conventions"): levelled, human-readable lines on stderr (spdlog, loguru's
// layout), and with --log-file one JSON object per line: {"time", "level", "message", "fields"}.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace bilmod::log {

enum class Level { kTrace, kDebug, kInfo, kSuccess, kWarning, kError, kCritical };

// level: TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL; json_path empty for no file.
Status configure(const std::string& level, const std::string& json_path);
bool enabled(Level level);
// The console line shows message and, when fields_on_console, the fields as key=value; the JSON file always has both.
void write(Level level, const std::string& message, const nlohmann::json& fields = nlohmann::json::object(),
           bool fields_on_console = true);

inline void debug(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kDebug, m, f);
}
inline void info(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kInfo, m, f);
}
inline void success(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kSuccess, m, f);
}
inline void warning(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kWarning, m, f);
}
inline void error(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kError, m, f);
}

// A status line (the progress bar) that must be cleared before a log line is printed and redrawn after.
void set_status_line(std::function<void()> clear, std::function<void()> redraw);
void clear_status_line();

// Flush and close the JSON file.
void shutdown();

}  // namespace bilmod::log
