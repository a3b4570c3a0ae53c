// The training loop: epochs of shuffled micro-batches, gradient accumulation, the optimiser step, evaluation,
// checkpoints; observers receive every step and evaluation (the log and progress bar, the tracking store).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/run_config.h"
#include "config/training_state.h"
#include "train/stop_signal.h"
#include "util/status.h"

namespace bilmod {

// One optimiser step, as observers see it. Observers get no parameters between evaluations: the optimiser may hold
// some rows back until they are read (optim/lazy_rows.h).
struct StepReport {
  int64_t step;        // steps taken, this one included
  int64_t epoch;       // epochs completed before this step
  int64_t epoch_step;  // steps taken within the epoch, this one included
  double batch_loss;
  double lr;
};

class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  // Before the first step; a failing Status stops the run before any work (e.g. an unusable tracking store).
  virtual Status on_start(const TrainingState& state) { return Status::ok(); }
  // After each optimiser step.
  virtual void on_step(const StepReport& step) {}
  // After each evaluation; metrics holds "epoch" and docs/MODELS.md's epoch metrics.
  virtual void on_evaluation(const TrainingState& state, const nlohmann::json& metrics) {}
  // Just before a checkpoint of `state` is written: whatever must be durable before a resume from that checkpoint can
  // happen (the tracking rows up to state.step, which a resume keeps and does not redo) is made durable here.
  virtual void before_checkpoint(const TrainingState& state) {}
  virtual void on_checkpoint(const TrainingState& state, const std::string& path) {}
  // At the end, whatever the outcome.
  virtual void on_finish(const TrainingState& state, const Status& outcome) {}
  // Asked after each epoch's evaluation: true ends the run there, cleanly, with a checkpoint (early stop).
  virtual bool stop_requested() const { return false; }
};

// A new run: the split from the data seed, parameters from --init-from or the seed, fresh optimiser state.
Status create_training_state(const RunConfig& config, TrainingState* state);
// 32 lowercase hex characters from the OS's random source (a UUID4's randomness, without dashes).
std::string new_run_id();

// Runs from state->epoch / state->epoch_step to config.epochs. Writes checkpoint_epoch_0 when starting from
// step 0, a checkpoint every --checkpoint-every epochs, and one at the end. Returns a runtime Status naming
// the epoch and step if the loss diverges, and the interrupted code (130/143) after a stop signal.
Status train(TrainingState* state, const std::vector<TrainingObserver*>& observers);

}  // namespace bilmod
