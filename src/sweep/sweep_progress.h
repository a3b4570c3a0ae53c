// The sweep's status for a person: on a terminal one line redrawn in place ("12/40 done, 2 running, 1 failed,
// ETA 03:10"); elsewhere (a log, a batch job) one plain line per run that ends. Failures are always printed
// in full, with the worker's own error line.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "sweep/run_record.h"

namespace bilmod {

class SweepProgress {
 public:
  // total: runs in the sweep; skipped: those already finished by an earlier run of it.
  SweepProgress(std::string name, int64_t total, int64_t skipped, bool terminal);
  ~SweepProgress();
  void set_running(int64_t running);
  // A run ended; `running` is how many still run after it.
  void run_finished(const RunResult& result, int64_t running);
  void finish();
  int64_t failed() const { return failed_; }
  int64_t interrupted() const { return interrupted_; }

 private:
  std::string line() const;
  void draw();
  std::string name_;
  int64_t total_, skipped_, done_ = 0, failed_ = 0, interrupted_ = 0, running_ = 0;
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace bilmod
