// A tqdm-style status line over epochs on a terminal (ninja's LinePrinter habit): redrawn in place with rate,
// ETA and the latest metrics. Off a terminal it draws nothing; the trainer logs plain lines instead.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace bilmod {

class ProgressBar {
 public:
  // active: draw on stderr (the caller decides: a terminal and no --no-progress).
  ProgressBar(bool active, int64_t total, int64_t initial);
  ~ProgressBar();
  bool active() const { return active_; }
  // Epoch `done` of total finished; `postfix` is shown after the bar ("train 0.12 | val 3.1 acc 0.51").
  void update(int64_t done, const std::string& postfix);
  void finish();

  static bool stderr_is_terminal();
  // "1:02:03" or "02:03", tqdm's format.
  static std::string format_duration(double seconds);

 private:
  void draw_locked();
  void clear_locked();
  bool active_;
  int64_t total_, initial_, done_;
  std::string postfix_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
};

}  // namespace bilmod
