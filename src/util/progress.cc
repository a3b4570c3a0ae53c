#include "util/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

#include "util/log.h"

namespace bilmod {

ProgressBar::ProgressBar(bool active, int64_t total, int64_t initial)
    : active_(active), total_(total), initial_(initial), done_(initial), start_(std::chrono::steady_clock::now()) {
  if (!active_) return;
  log::set_status_line([this] { clear_locked(); }, [this] { draw_locked(); });
  std::lock_guard lock(mutex_);
  draw_locked();
}

ProgressBar::~ProgressBar() { finish(); }

bool ProgressBar::stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

std::string ProgressBar::format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 360000) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

void ProgressBar::update(int64_t done, const std::string& postfix) {
  if (!active_) return;
  std::lock_guard lock(mutex_);
  done_ = done;
  if (!postfix.empty()) postfix_ = postfix;
  draw_locked();
}

void ProgressBar::finish() {
  if (!active_) return;
  log::set_status_line(nullptr, nullptr);
  std::lock_guard lock(mutex_);
  draw_locked();
  std::fputc('\n', stderr);
  std::fflush(stderr);
  active_ = false;
}

void ProgressBar::clear_locked() { std::fputs("\r\033[K", stderr); }

void ProgressBar::draw_locked() {
  winsize ws{};
  const int width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 100;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t done_here = done_ - initial_;
  const double rate = elapsed > 0 ? static_cast<double>(done_here) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
  const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  char left[64], right[160];
  std::snprintf(left, sizeof left, "epoch %3.0f%%|", fraction * 100);
  std::snprintf(right, sizeof right, "| %lld/%lld [%s<%s, %.2fit/s]", static_cast<long long>(done_),
                static_cast<long long>(total_), format_duration(elapsed).c_str(), format_duration(eta).c_str(), rate);
  std::string tail = std::string(right) + (postfix_.empty() ? "" : " " + postfix_);
  const int bar_width =
      std::max(10, std::min(40, width - static_cast<int>(std::string(left).size() + tail.size()) - 1));
  const int filled = static_cast<int>(fraction * bar_width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(bar_width - filled), ' ');
  std::string line = std::string(left) + bar + tail;
  if (static_cast<int>(line.size()) >= width) line.resize(static_cast<size_t>(std::max(1, width - 1)));
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

}  // namespace bilmod
