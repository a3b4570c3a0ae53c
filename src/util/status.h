// Errors are values until main (docs/ARCHITECTURE.md "Conventions"): a function that can fail returns Status, and only
// the command layer prints the message and exits with its code. Exit codes are docs/FORMATS.md's.
#pragma once
#include <string>
#include <utility>

namespace bilmod {

enum class ExitCode : int { kSuccess = 0, kRuntime = 1, kUsage = 2, kInterrupted = 130, kTerminated = 143 };

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  // A bad flag, value or combination of flags: exit 2.
  static Status usage(std::string message) { return Status(ExitCode::kUsage, std::move(message)); }
  // A file, I/O or numerical failure at run time: exit 1.
  static Status runtime(std::string message) { return Status(ExitCode::kRuntime, std::move(message)); }
  // Stopped by SIGINT (exit 130) or SIGTERM (exit 143) after saving its state.
  static Status interrupted(bool by_sigterm, std::string message) {
    return Status(by_sigterm ? ExitCode::kTerminated : ExitCode::kInterrupted, std::move(message));
  }

  bool is_ok() const { return code_ == ExitCode::kSuccess; }
  explicit operator bool() const { return is_ok(); }
  ExitCode code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }
  const std::string& message() const { return message_; }

 private:
  Status(ExitCode code, std::string message) : code_(code), message_(std::move(message)) {}
  ExitCode code_ = ExitCode::kSuccess;
  std::string message_;
};

// Propagate a failed Status to the caller.
#define BILMOD_TRY(expr)                  \
  do {                                    \
    ::bilmod::Status _status = (expr);    \
    if (!_status.is_ok()) return _status; \
  } while (0)

}  // namespace bilmod
