#include "sweep/run_worker.h"

#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "train/run_start.h"

namespace bilmod {

namespace fs = std::filesystem;

Status prepare_run(const std::string& run_dir, PreparedRun* run) {
  run->run_dir = run_dir;
  nlohmann::json j;
  const std::string spec_path = (fs::path(run_dir) / kRunFile).string();
  BILMOD_TRY(read_json_file(spec_path, &j));
  if (Status s = run_spec_from_json(j, &run->spec); !s) return Status::runtime(spec_path + ": " + s.message());
  const RunConfig& config = run->spec.config;

  // progress.json names the checkpoint whose milestones it holds; without it, checkpoint_epoch_0 (if any) is a
  // start that was cut short, resumed so that the run keeps its run_id (one run in the tracking store, not two).
  RunProgress progress;
  bool have_progress = false;
  const std::string progress_path = (fs::path(run_dir) / kProgressFile).string();
  if (fs::exists(progress_path)) {
    nlohmann::json p;
    BILMOD_TRY(read_json_file(progress_path, &p));
    if (Status s = run_progress_from_json(p, &progress); !s) return Status::runtime(progress_path + ": " + s.message());
    have_progress = true;
  }
  const std::string checkpoint = checkpoint_path(config.checkpoint_dir, have_progress ? progress.epoch : 0);
  StartRequest request;
  request.config = config;
  // The folder must hold this run: the same model, data and seed (a changed sweep is refused earlier; this guards
  // against files copied by hand).
  if (fs::exists(checkpoint)) request.config.resume_from = checkpoint;
  request.overrides = all_settings();
  request.conflict_advice = "remove " + run_dir + " or use another --output-dir";
  request.conflict_is_usage = false;
  request.checkpoint_dir_name = "checkpoint folder";
  // Each run checks its own estimate against the memory available when it starts (runs side by side see what
  // the others already hold); one that does not fit fails with the refusal line, and the sweep goes on.
  BILMOD_TRY(memory_budget("", &request.memory));
  StartedRun started;
  BILMOD_TRY(start_run(request, &started));
  run->state = std::move(started.state);
  run->resumed_from = started.resumed_from;
  run->progress = !run->resumed_from.empty() && have_progress ? progress : RunProgress{};
  run->already_stopped = !run->resumed_from.empty() && run->spec.stop_at_val_acc > 0 && run->progress.epoch > 0 &&
                         run->progress.streak >= run->spec.patience;
  return Status::ok();
}

Status write_run_result(const PreparedRun& run, const TrainingState& state, const RunProgress& progress,
                        const Status& outcome, RunResult* result) {
  RunResult r;
  r.index = run.spec.index;
  r.key = run.spec.key;
  r.settings = run.spec.settings;
  r.status = outcome ? RunStatus::kFinished : RunStatus::kFailed;
  r.stopped_early = outcome && state.epoch < state.config().epochs;
  r.epochs = state.epoch;
  r.steps = state.step;
  r.metrics = state.metrics;
  r.val_milestone_epoch = progress.val_milestone_epoch;
  r.train_milestone_epoch = progress.train_milestone_epoch;
  r.wall_seconds = progress.wall_seconds;
  r.run_id = state.run_id;
  r.message = outcome ? "" : outcome.message();
  BILMOD_TRY(write_json_file((fs::path(run.run_dir) / kResultFile).string(), to_json(r)));
  *result = std::move(r);
  return Status::ok();
}

}  // namespace bilmod
