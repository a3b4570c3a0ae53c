#include "train/run_start.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "checkpoint/checkpoint.h"
#include "checkpoint/torch_checkpoint.h"
#include "train/memory_estimate.h"
#include "train/stop_signal.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/log.h"

namespace bilmod {

namespace {

// "--mod-basis 113"; the negative flags read as what they say ("--no-bias", "a model with biases").
std::string setting_text(const std::string& key, const nlohmann::json& value) {
  if (value.is_boolean() && flag_name(key).rfind("no-", 0) == 0)
    return value.get<bool>() ? "a model with " + (key == "bias" ? std::string("biases") : "an output projection")
                             : "--" + flag_name(key);
  return "--" + flag_name(key) + " " + value.dump();
}

// The checkpoint's settings with the request's overrides; the settings that define the model, its data and the
// optimiser's state must agree, and the epochs already trained may not exceed the run's.
Status resume_config(const StartRequest& request, const TrainingState& checkpoint, const std::string& path,
                     RunConfig* merged) {
  nlohmann::json saved = to_json(checkpoint.config());
  const nlohmann::json wanted = to_json(request.config);
  auto refuse = [&](const std::string& message) {
    return request.conflict_is_usage ? Status::usage(message) : Status::runtime(message);
  };
  std::vector<std::string> fixed = model_defining_settings();
  fixed.push_back("optimizer");
  for (const std::string& key : request.overrides) {
    if (!wanted.contains(key)) continue;
    if (std::find(fixed.begin(), fixed.end(), key) != fixed.end() && wanted[key] != saved[key])
      return refuse(path + " is a checkpoint of " + setting_text(key, saved[key]) + "; " +
                    setting_text(key, wanted[key]) + " contradicts it: " + request.conflict_advice);
    saved[key] = wanted[key];
  }
  saved["resume_from"] = path;
  BILMOD_TRY(config_from_json(saved, merged));
  BILMOD_TRY(merged->validate());
  if (merged->epochs < checkpoint.epoch)
    return refuse("--epochs " + std::to_string(merged->epochs) + " is less than the " +
                  std::to_string(checkpoint.epoch) + " epochs " + path + " already holds");
  // --fixed-norm restores the norm right after initialisation, which the checkpoint must record.
  if (merged->fixed_norm && !std::isfinite(checkpoint.initial_norm))
    return refuse("--fixed-norm keeps the parameters' norm right after initialisation, which " + path +
                  " does not record (a checkpoint from an older bilmod or from PyTorch): start a new run");
  // The gradient filter's state is saved with the checkpoint: only the same filter can continue it.
  const RunConfig& was = checkpoint.config();
  if (merged->grokfast != was.grokfast ||
      (merged->grokfast == GrokfastKind::kMa && merged->grokfast_window != was.grokfast_window)) {
    auto filter = [](const RunConfig& c) {
      return "--grokfast " + grokfast_kind_name(c.grokfast) +
             (c.grokfast == GrokfastKind::kMa ? " --grokfast-window " + std::to_string(c.grokfast_window) : "");
    };
    return refuse(filter(*merged) + " cannot resume the filter state saved in " + path + " (" + filter(was) +
                  "): resume with the checkpoint's filter, or start a new run");
  }
  return Status::ok();
}

// A run the seed's code or its upstream began in PyTorch (their checkpoint_epoch_{e}.pt, saved after epoch index e):
// its parameters, AdamW's state, e + 1 epochs done, its config and its split (drawn again from its seed).
Status load_pytorch_run(const std::string& path, TrainingState* out, std::string* note) {
  TorchCheckpoint torch;
  BILMOD_TRY(load_torch_checkpoint(path, &torch, /*with_optimizer=*/true));
  if (!torch.split_known)
    return Status::runtime(path +
                           ": holds neither its split nor a config with the seed to draw it from, so its run "
                           "cannot be continued on the same data");
  TrainingState& s = torch.state;
  s.epoch += 1;  // the PyTorch code saves the index of the epoch it has just finished
  s.epoch_step = 0;
  s.epoch_loss_sum = 0;
  s.run_id = new_run_id();
  *note = "continuing the PyTorch run " + path + ": its parameters, AdamW state (step " +
          std::to_string(s.optimizer.step) + "), " + std::to_string(s.epoch) + " epochs done and its split (" +
          split_kind_name(s.config().split) + "); the batch order from here on is bilmod's, not the PyTorch code's";
  *out = std::move(s);
  return Status::ok();
}

Status load_state(const StartRequest& request, StartedRun* run) {
  const RunConfig& config = request.config;
  // Parameters, gradients, optimiser state and the split, estimated before any of them is allocated.
  auto check_training = [&](const RunConfig& c) {
    return check_memory(training_memory(c, c.threads > 0 ? c.threads : worker_threads()), request.memory);
  };
  if (config.resume_from.empty()) {
    BILMOD_TRY(config.validate());
    BILMOD_TRY(check_training(config));
    return create_training_state(config, &run->state);
  }
  std::string path;
  BILMOD_TRY(resolve_checkpoint_path(config.resume_from, &path));
  BILMOD_TRY(check_checkpoint_reading("train", path, request.memory));
  TrainingState checkpoint;
  if (is_zip_file(path))
    BILMOD_TRY(load_pytorch_run(path, &checkpoint, &run->pytorch_note));
  else
    BILMOD_TRY(load_checkpoint(path, &checkpoint));
  RunConfig merged;
  BILMOD_TRY(resume_config(request, checkpoint, path, &merged));
  BILMOD_TRY(check_training(merged));
  const bool rename =
      std::find(request.overrides.begin(), request.overrides.end(), "run_name") != request.overrides.end() &&
      !config.run_name.empty();
  run->state = std::move(checkpoint);
  run->state.set_config(std::move(merged));  // its model-defining settings are the checkpoint's (resume_config)
  if (rename) run->state.run_name = config.run_name;
  run->resumed_from = path;
  return Status::ok();
}

}  // namespace

std::vector<std::string> all_settings() {
  const nlohmann::json settings = to_json(RunConfig{});  // alive for the loop: items() does not own it
  std::vector<std::string> keys;
  for (const auto& [key, value] : settings.items()) keys.push_back(key);
  return keys;
}

Status start_run(const StartRequest& request, StartedRun* run) {
  // First, so that a signal during start-up (loading a checkpoint, opening the store) is not a silent death either:
  // the caller answers it before the first step.
  install_stop_signals();
  // Everything that can fail on its inputs alone (--init-from included) comes before anything is created on disk.
  BILMOD_TRY(load_state(request, run));
  const RunConfig& config = run->state.config();
  BILMOD_TRY(log::configure(config.log_level, config.log_file));
  if (!run->pytorch_note.empty()) log::warning(run->pytorch_note);
  std::error_code ec;
  run->created_checkpoint_dir = !std::filesystem::exists(config.checkpoint_dir, ec);
  BILMOD_TRY(check_writable_dir(config.checkpoint_dir, request.checkpoint_dir_name));
#ifdef _OPENMP
  // --threads 0: OpenMP's own default, which is every core unless OMP_NUM_THREADS says otherwise.
  omp_set_num_threads(config.threads > 0 ? static_cast<int>(config.threads) : omp_get_max_threads());
#endif
  return Status::ok();
}

}  // namespace bilmod
