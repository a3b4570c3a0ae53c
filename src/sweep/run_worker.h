// One run of a sweep, inside its own worker process (`bilmod sweep --run-dir DIR/RUN`, started by the sweep):
// decide between a fresh start and a resume from the folder's checkpoints, and write the outcome. The training
// itself is the ordinary engine (create_training_state / load_checkpoint / train), driven by the command.
#pragma once
#include <string>

#include "sweep/run_record.h"
#include "train/training_state.h"
#include "util/status.h"

namespace bilmod {

struct PreparedRun {
  std::string run_dir;
  RunSpec spec;
  TrainingState state;       // fresh, or loaded from the checkpoint progress.json names
  RunProgress progress;      // the milestones up to state.epoch
  std::string resumed_from;  // the checkpoint path, empty for a fresh start
  bool already_stopped = false;  // the early-stop rule was met before the interruption: nothing left to train
};

// Reads DIR/RUN/run.json and progress.json and builds the state to train from.
Status prepare_run(const std::string& run_dir, PreparedRun* run);

// The result of a training attempt that ended with `outcome` (ok or a runtime failure; an interruption writes
// nothing, so the next sweep resumes it), written to DIR/RUN/result.json.
Status write_run_result(const PreparedRun& run, const TrainingState& state, const RunProgress& progress,
                        const Status& outcome, RunResult* result);

}  // namespace bilmod
