// One run of a sweep, inside its own worker process (`bilmod sweep --run-dir DIR/RUN`, started by the sweep):
// decide between a fresh start and a resume from the folder's checkpoints, and write the outcome. The training
// itself is the ordinary engine (start_run, train), driven by the command.
#pragma once
#include <string>

#include "sweep/run_record.h"
#include "config/training_state.h"
#include "util/status.h"

namespace bilmod {

struct PreparedRun {
  std::string run_dir;
  RunSpec spec;
  TrainingState state;           // fresh, or loaded from the checkpoint progress.json names
  RunProgress progress;          // the milestones up to state.epoch
  std::string resumed_from;      // the checkpoint path, empty for a fresh start
  bool already_stopped = false;  // the early-stop rule was met before the interruption: nothing left to train
};

// Reads DIR/RUN/run.json and progress.json and starts the run (train/run_start.h): a resume from the checkpoint
// progress.json names, or a new run; the process is then ready to train it.
Status prepare_run(const std::string& run_dir, PreparedRun* run);

// The result of a training attempt that ended with `outcome` (ok or a runtime failure; an interruption writes
// nothing, so the next sweep resumes it), written to DIR/RUN/result.json.
Status write_run_result(const PreparedRun& run, const TrainingState& state, const RunProgress& progress,
                        const Status& outcome, RunResult* result);

}  // namespace bilmod
