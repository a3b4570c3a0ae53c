#include "util/log.h"

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace bilmod::log {

namespace {
struct LogState {
  std::mutex mutex;
  Level level = Level::kInfo;
  std::shared_ptr<spdlog::logger> console;
  std::FILE* json_file = nullptr;
  std::function<void()> clear_status, redraw_status;
};
LogState& state() {
  static LogState s;
  return s;
}

const char* level_name(Level l) {
  static const char* names[] = {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"};
  return names[static_cast<int>(l)];
}

spdlog::level::level_enum spdlog_level(Level l) {
  switch (l) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
    case Level::kSuccess:
      return spdlog::level::info;
    case Level::kWarning:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kCritical:
      return spdlog::level::critical;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> console() {
  LogState& s = state();
  if (!s.console) {
    s.console = spdlog::stderr_color_mt("bilmod");
    s.console->set_pattern("%Y-%m-%d %H:%M:%S.%e | %^%-8l%$ | %v");
    s.console->set_level(spdlog::level::trace);
  }
  return s.console;
}

std::string iso_time_now() {
  const auto now = std::chrono::system_clock::now();
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros));
  return buf;
}

std::string fields_text(const nlohmann::json& fields) {
  std::string text;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    text += " " + it.key() + "=";
    if (it.value().is_string())
      text += it.value().get<std::string>();
    else if (it.value().is_number_float()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", it.value().get<double>());
      text += buf;
    } else
      text += it.value().dump();
  }
  return text;
}
}  // namespace

Status configure(const std::string& level, const std::string& json_path) {
  LogState& s = state();
  std::lock_guard lock(s.mutex);
  bool found = false;
  for (int l = 0; l <= static_cast<int>(Level::kCritical); ++l)
    if (level == level_name(static_cast<Level>(l))) s.level = static_cast<Level>(l), found = true;
  if (!found)
    return Status::usage("--log-level '" + level +
                         "' is not known: use TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL");
  if (!json_path.empty()) {
    std::FILE* f = std::fopen(json_path.c_str(), "a");
    if (!f)
      return Status::runtime("--log-file " + json_path + " cannot be opened for appending: " + std::strerror(errno));
    if (s.json_file) std::fclose(s.json_file);
    s.json_file = f;
  }
  return Status::ok();
}

bool enabled(Level level) { return level >= state().level; }

void write(Level level, const std::string& message, const nlohmann::json& fields, bool fields_on_console) {
  LogState& s = state();
  if (level < s.level) return;
  std::lock_guard lock(s.mutex);
  if (s.clear_status) s.clear_status();
  const std::string text = message + (fields_on_console && fields.is_object() ? fields_text(fields) : "");
  console()->log(spdlog_level(level), "{}", text);
  console()->flush();
  if (s.redraw_status) s.redraw_status();
  if (s.json_file) {
    nlohmann::json line = {{"time", iso_time_now()},
                           {"level", level_name(level)},
                           {"message", message},
                           {"fields", fields.is_object() ? fields : nlohmann::json::object()}};
    const std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(out.data(), 1, out.size(), s.json_file);
    std::fflush(s.json_file);
  }
}

void set_status_line(std::function<void()> clear, std::function<void()> redraw) {
  LogState& s = state();
  std::lock_guard lock(s.mutex);
  s.clear_status = std::move(clear);
  s.redraw_status = std::move(redraw);
}

void clear_status_line() {
  LogState& s = state();
  std::lock_guard lock(s.mutex);
  if (s.clear_status) s.clear_status();
}

void shutdown() {
  LogState& s = state();
  std::lock_guard lock(s.mutex);
  if (s.json_file) std::fclose(s.json_file);
  s.json_file = nullptr;
}

}  // namespace bilmod::log
