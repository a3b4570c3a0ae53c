// The one way a run starts or resumes, for `bilmod train` and each run of a sweep alike: the settings merged with a
// checkpoint's and checked, the state created or loaded, then the process made ready to train it (stop signals,
// the log, threads, the checkpoint folder). Nothing is created on disk before every input has been checked.
#pragma once
#include <string>
#include <vector>

#include "config/run_config.h"
#include "config/training_state.h"
#include "util/memory_budget.h"
#include "util/status.h"

namespace bilmod {

struct StartRequest {
  // The settings asked for. config.resume_from, when set, is the checkpoint to continue (a file, or a folder whose
  // latest checkpoint is meant); empty starts a new run.
  RunConfig config;
  // On resume: the settings (RunConfig's JSON keys) taken from `config`; the others keep the checkpoint's values.
  // The command line names the flags it was given; a sweep names every key (its runs' settings are whole).
  std::vector<std::string> overrides;
  // A setting that may not change on resume (model_defining_settings(), the optimiser) but would: the error's
  // advice, and whether it is a usage error (flags given by hand) or a runtime one (a folder holding another run).
  std::string conflict_advice;
  bool conflict_is_usage = true;
  // How errors name the checkpoint folder.
  std::string checkpoint_dir_name = "--checkpoint-dir";
  // What the run may use (--max-memory, or MemAvailable): reading the checkpoint and then the training are
  // estimated against it before either allocates (train/memory_estimate.h).
  MemoryBudget memory;
};

struct StartedRun {
  TrainingState state;
  std::string resumed_from;             // the checkpoint file, empty for a new run
  bool created_checkpoint_dir = false;  // the folder did not exist before this start
  std::string pytorch_note;             // a run begun in PyTorch: what was taken from its file (logged at start)
};

// Every RunConfig key, for a request whose settings all override the checkpoint's.
std::vector<std::string> all_settings();

Status start_run(const StartRequest& request, StartedRun* run);

}  // namespace bilmod
