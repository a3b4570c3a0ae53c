// bilmod train: the seed's training script as a command, with its flags and defaults.
#include <cctype>
#include <csignal>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>

#include "checkpoint/checkpoint.h"
#include "cli/command.h"
#include "cli/console_observer.h"
#include "model/model.h"
#include "tracking/dashboard_server.h"
#include "tracking/tracking_folder.h"
#include "tracking/tracking_observer.h"
#include "train/run_start.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/log.h"
#include "util/memory_budget.h"

namespace bilmod {

namespace {

void add_train_flags(CLI::App* cmd, RunConfig* c) {
  // The seed's flags, its defaults.
  cmd->add_option("--mod-basis", c->mod_basis, "Modulus P: inputs a, b and the label live in Z_P");
  cmd->add_option("--hidden-dim", c->hidden_dim, "Hidden width H");
  cmd->add_option("--batch-size", c->batch_size, "Micro-batch size B");
  cmd->add_option("--learning-rate", c->learning_rate, "Peak learning rate");
  cmd->add_option("--weight-decay", c->weight_decay,
                  "Decoupled weight decay (AdamW) or L2 added to the gradient (SGD)");
  cmd->add_option("--epochs", c->epochs, "Epochs to train (the total, counting those of a resumed run)");
  cmd->add_option("--grad-accum-steps", c->grad_accum_steps, "Micro-batches accumulated per optimiser step");
  cmd->add_option("--checkpoint-dir", c->checkpoint_dir, "Folder for checkpoint_epoch_{E}.safetensors");
  cmd->add_option("--checkpoint-every", c->checkpoint_every,
                  "Write a checkpoint every N epochs (0: first and last only)");
  cmd->add_option("--resume-from", c->resume_from, "Continue a run from a checkpoint file, or the latest in a folder");
  cmd->add_option("--seed", c->seed,
                  "Seed of the initial parameters and the epoch order (and the split, unless --data-seed)")
      ->check(CLI::NonNegativeNumber);  // CLI11 would wrap -1 to 2^64 - 1 and train
  cmd->add_option("--log-level", c->log_level, "TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL")
      ->transform([](std::string level) {
        for (char& ch : level) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return level;
      });
  // bilmod's.
  add_named_setting_option(
      cmd, "model", c,
      "bilinear (the seed's; memorises, cannot generalise), factored, mlp, transformer (Nanda et al.) or clock-pizza "
      "(Zhong et al.); the last four grok");
  add_model_flags(cmd, c);
  cmd->add_option("--preset", c->preset,
                  "A whole recipe: seed (the defaults), nanda2023 (Nanda et al.'s transformer) or zhong2023 (Zhong et "
                  "al.'s clock-pizza; alpha from --attention-rate); "
                  "flags given explicitly override its values");
  add_named_setting_option(cmd, "operation", c, "add, sub, mul, div, x2+y2, x2+xy+y2, x2+xy+y2+x, x3+xy or x3+xy2+y");
  cmd->add_option("--train-frac", c->train_frac, "Fraction of the pairs used for training (floor)");
  cmd->add_option("--data-seed", c->data_seed, "Seed of the train/validation split (-1: the value of --seed)");
  add_named_setting_option(cmd, "split", c,
                           "bilmod (its own shuffle) or torch (the seed's and upstream's torch.randperm split)");
  cmd->add_flag("--full-batch", c->full_batch, "One optimiser step per epoch over all train pairs");
  add_named_setting_option(cmd, "optimizer", c, "adamw or sgd");
  cmd->add_option("--beta1", c->beta1, "AdamW beta1");
  cmd->add_option("--beta2", c->beta2, "AdamW beta2");
  cmd->add_option("--eps", c->eps, "AdamW epsilon");
  cmd->add_option("--momentum", c->momentum, "SGD momentum (dampening 0)");
  cmd->add_option("--warmup-steps", c->warmup_steps, "Linear warm-up over the first N optimiser steps");
  add_named_setting_option(cmd, "lr_schedule", c, "constant or cosine (to 0 over the run, after warm-up)");
  add_named_setting_option(
      cmd, "warmup_convention", c,
      "bilmod: step t (from 1) at lr x min(t/N, 1); lambdalr: PyTorch's LambdaLR stepped after each step, "
      "step t at lr x min((t-1)/N, 1), the first at 0 (the papers' recipes)");
  cmd->add_option("--eval-every", c->eval_every, "Evaluate all train and validation pairs every N epochs");
  cmd->add_option("--init-from", c->init_from,
                  "Initial parameters from a safetensors file with PyTorch names, or a torch.save .pt file");
  cmd->add_option("--threads", c->threads,
                  "Threads (0: evaluation on every core, steps on one thread or every core, whichever a start-up "
                  "timing finds faster); results are identical for any count");
  cmd->add_option("--log-file", c->log_file, "Also write the log here, one JSON object per line");
  cmd->add_flag("--no-progress", c->no_progress, "No progress bar: a plain log line every few epochs");
  // Interventions (docs/MODELS.md "Interventions and measures").
  add_named_setting_option(cmd, "grokfast", c,
                           "Gradient filter of Grokfast between backward and the step: none, ema or ma");
  cmd->add_option("--grokfast-alpha", c->grokfast_alpha, "Grokfast EMA: state = alpha * state + (1 - alpha) * g");
  cmd->add_option("--grokfast-lamb", c->grokfast_lamb,
                  "Grokfast: g = g + lamb * filtered (default: 2 for ema, 5 for ma)");
  cmd->add_option("--grokfast-window", c->grokfast_window,
                  "Grokfast MA: gradients averaged (no change until it is full)");
  cmd->add_flag("--orthograd", c->orthograd,
                "OrthoGrad: each tensor's gradient made orthogonal to its weights, norm kept");
  cmd->add_option("--init-scale", c->init_scale,
                  "Omnigrok: every initial parameter multiplied by this (> 0), before the first step");
  cmd->add_flag("--fixed-norm", c->fixed_norm,
                "Omnigrok: after every step all parameters rescaled together to their total L2 norm right after "
                "initialisation (and --init-scale)");
  add_named_setting_option(
      cmd, "loss", c,
      "cross_entropy, stablemax (always in float64) or mse (against one-hot, mean over batch and classes)");
  add_named_setting_option(cmd, "loss_precision", c,
                           "float32 or float64: the loss and its gradient from the logits cast to double");
  // Experiment tracking.
  cmd->add_option("--project", c->project, "Tracking project (trackio's)");
  cmd->add_option("--run-name", c->run_name, "Run name (default: trackio's adjective-noun-N)");
  cmd->add_option("--group", c->group, "Run group in the tracking store");
  cmd->add_option("--tracking-dir", c->tracking_dir, kTrackingDirHelp);
  cmd->add_flag("--no-track", c->no_track, "Do not write the tracking store");
  std::string notes;
  for (const Model* model : registered_models())
    if (const std::string notice = model->notice(); !notice.empty()) notes += "\nNote: " + notice;
  cmd->footer(notes);
}

// The upstream's direct model has the width P and no activation: --hidden-dim is a mistake there, and
// --activation defaults to none.
Status settle_direct_model(const CLI::App& cmd, RunConfig* config) {
  if (config->use_output_projection) return Status::ok();
  if (cmd.count("--hidden-dim"))
    return Status::usage(
        "--hidden-dim does not apply with --no-output-projection: the bilinear layer maps straight to "
        "the P logits (its width is P); drop one of them");
  config->hidden_dim = config->mod_basis;
  if (!cmd.count("--activation")) config->activation = Activation::kNone;
  return Status::ok();
}

// dashboard: the settings of --dashboard, or nullptr without it.
int run_train(const CLI::App& cmd, const RunConfig& cli_config, const DashboardSettings* dashboard,
              const std::string& max_memory) {
  const std::string name = "train";
  // A resumed run takes the checkpoint's settings; flags given on this command line override them.
  StartRequest request;
  request.config = cli_config;
  if (Status s = memory_budget(max_memory, &request.memory); !s) return report_failure(name, s);
  for (const CLI::Option* option : cmd.get_options())
    if (option->count() > 0 && !option->get_lnames().empty())
      request.overrides.push_back(setting_name(option->get_lnames().front()));
  if (!request.config.preset.empty())
    if (Status s = apply_preset(request.config.preset, request.overrides, &request.config); !s)
      return report_failure(name, s);
  if (Status s = settle_direct_model(cmd, &request.config); !s) return report_failure(name, s);
  request.conflict_advice = "drop the flag, or start a new run without --resume-from";
  StartedRun started;
  if (Status s = start_run(request, &started); !s) return report_failure(name, s);
  TrainingState& state = started.state;
  const RunConfig& config = state.config();
  std::error_code ec;

  ConsoleObserver console(config.no_progress ? false : ProgressBar::stderr_is_terminal());
  std::vector<TrainingObserver*> observers = {&console};
  TrackingObserver tracking;
  if (!config.no_track) {
    // Opened before train(): an unusable store stops the run before any work, and the run's name (trackio's
    // adjective-noun-N when --run-name is not given) is known before checkpoint_epoch_0 records it.
    if (Status s = tracking.open(&state); !s) {
      if (started.created_checkpoint_dir) std::filesystem::remove(config.checkpoint_dir, ec);  // only if still empty
      return report_failure(name, s);
    }
    observers.push_back(&tracking);
  }
  DashboardServer dashboard_server;
  if (dashboard) {
    DashboardSettings settings = *dashboard;
    settings.tracking_dir = resolve_tracking_dir(config.tracking_dir);
    // A dashboard that cannot start (its port taken, perhaps by another run's) must not stop the training.
    if (Status s = dashboard_server.start(settings); !s)
      log::warning(s.message());
    else
      log::info("dashboard: " + dashboard_server.url(), {{"tracking_dir", settings.tracking_dir}});
  }
  if (const int signal = g_stop_signal.load(); signal != 0)
    return report_failure(name, Status::interrupted(signal == SIGTERM, stop_signal_name(signal) +
                                                                           " before the first step: nothing to save"));
  const Status outcome = train(&state, observers);
  if (!outcome) return report_failure(name, outcome);
  return 0;
}

}  // namespace

CommandRunner setup_train_command(CLI::App* cmd) {
  auto config = std::make_shared<RunConfig>();
  add_train_flags(cmd, config.get());
  // --dashboard is how this process runs, not a setting of the run: it stays out of RunConfig and checkpoints.
  auto with_dashboard = std::make_shared<bool>(false);
  auto dashboard = std::make_shared<DashboardSettings>();
  cmd->add_flag("--dashboard", *with_dashboard, "Also serve the live dashboard (as bilmod dashboard) while training");
  cmd->add_option("--dashboard-port", dashboard->port, "Port of --dashboard (bound to 127.0.0.1)");
  // Like --dashboard, how this process runs rather than a setting of the run.
  auto max_memory = std::make_shared<std::string>();
  add_max_memory_option(cmd, max_memory.get());
  return [cmd, config, with_dashboard, dashboard, max_memory]() {
    return run_train(*cmd, *config, *with_dashboard ? dashboard.get() : nullptr, *max_memory);
  };
}

}  // namespace bilmod
