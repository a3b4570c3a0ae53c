#include "sweep/sweep_progress.h"

#include <cstdio>

#include "util/progress.h"

namespace bilmod {

SweepProgress::SweepProgress(std::string name, int64_t total, int64_t skipped, bool terminal)
    : name_(std::move(name)),
      total_(total),
      skipped_(skipped),
      terminal_(terminal),
      start_(std::chrono::steady_clock::now()) {}

SweepProgress::~SweepProgress() { finish(); }

std::string SweepProgress::line() const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t ended = done_ + failed_;  // runs this invocation has seen end
  const int64_t left = total_ - skipped_ - ended - interrupted_;
  // Runs end at the rate seen so far (the parallelism is already in that rate).
  const std::string eta =
      ended > 0 ? ProgressBar::format_duration(elapsed / static_cast<double>(ended) * static_cast<double>(left)) : "?";
  char buf[256];
  std::snprintf(buf, sizeof buf, "sweep %s: %lld/%lld done%s, %lld running, %lld failed, elapsed %s, ETA %s",
                name_.c_str(), static_cast<long long>(skipped_ + done_), static_cast<long long>(total_),
                skipped_ > 0 ? (" (" + std::to_string(skipped_) + " from before)").c_str() : "",
                static_cast<long long>(running_), static_cast<long long>(failed_),
                ProgressBar::format_duration(elapsed).c_str(), eta.c_str());
  return buf;
}

void SweepProgress::draw() {
  if (!terminal_) return;
  std::fprintf(stderr, "\r\033[K%s", line().c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void SweepProgress::set_running(int64_t running) {
  if (running == running_) return;
  running_ = running;
  draw();
}

void SweepProgress::run_finished(const RunResult& r, int64_t running) {
  running_ = running;
  if (r.status == RunStatus::kFinished)
    ++done_;
  else if (r.status == RunStatus::kFailed)
    ++failed_;
  else
    ++interrupted_;
  std::string what;
  if (r.status == RunStatus::kFinished) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "finished %lld epochs%s: val_acc=%.4f train_acc=%.4f, val 0.99 at epoch %s, %.1f s",
                  static_cast<long long>(r.epochs), r.stopped_early ? " (stopped early)" : "",
                  r.metrics.value("val/accuracy", 0.0), r.metrics.value("train/accuracy", 0.0),
                  r.val_milestone_epoch ? std::to_string(*r.val_milestone_epoch).c_str() : "-", r.wall_seconds);
    what = buf;
  } else {
    what = std::string(run_status_name(r.status)) + ": " + r.message;
  }
  if (terminal_ && drawn_) std::fprintf(stderr, "\r\033[K");
  // A terminal shows failures only (the status line counts the rest); a log gets every run.
  if (!terminal_ || r.status != RunStatus::kFinished)
    std::fprintf(stderr, "sweep %s: run %s %s | %s\n", name_.c_str(), r.key.c_str(), what.c_str(), line().c_str());
  draw();
}

void SweepProgress::finish() {
  if (terminal_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  drawn_ = false;
  terminal_ = false;
}

}  // namespace bilmod
