// Up to N runs of a sweep at a time, each in its own worker process (`bilmod sweep --run-dir DIR/RUN`).
//
// Why processes and not threads: a run is then exactly an ordinary bilmod run (its own OpenMP thread count, its
// own signal handling and checkpoints, its own tracking writer), a run that crashes or diverges takes nothing
// else down, and the kernel, not OpenMP, spreads the runs over the cores. The cost, one exec per run, is a few
// milliseconds against runs of seconds to hours.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sweep/run_record.h"
#include "util/status.h"

namespace bilmod {

class RunSlots {
 public:
  // executable: this program (/proc/self/exe resolved); output_dir: the sweep's folder.
  RunSlots(std::string executable, std::string output_dir, int capacity);
  ~RunSlots();

  int capacity() const { return capacity_; }
  int running() const { return static_cast<int>(children_.size()); }
  bool has_free_slot() const { return running() < capacity_; }

  // Writes DIR/RUN/run.json and starts the worker, its output appended to DIR/RUN/output.log. A run that cannot
  // be started is returned at the next reap() as failed, so it is reported like any other failure.
  void launch(const RunSpec& spec);
  // Collects the runs whose worker has exited (without blocking), reading each one's result.json.
  void reap(std::vector<RunResult>* finished);
  // Passes SIGINT/SIGTERM on to every worker: each writes a checkpoint at its next step and exits.
  void forward_signal(int signal);

 private:
  struct Child {
    pid_t pid;
    RunSpec spec;
  };
  RunResult outcome(const RunSpec& spec, int wait_status) const;
  std::string executable_, output_dir_;
  int capacity_;
  std::vector<Child> children_;
  std::vector<RunResult> launch_failures_;
};

// The run's folder: DIR/RUN.
std::string run_folder(const std::string& output_dir, const std::string& key);
// This program's own path (so a worker is the same build as the sweep).
std::string own_executable();

}  // namespace bilmod
