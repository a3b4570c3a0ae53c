#include "train/trainer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>

#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/torch_checkpoint.h"
#include "data/dataset.h"
#include "model/loss.h"
#include "model/model.h"
#include "model/network.h"
#include "optim/fixed_norm.h"
#include "optim/grokfast.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/orthograd.h"
#include "util/log.h"
#include "train/evaluate.h"
#include "train/measure.h"
#include "train/step_threads.h"

namespace bilmod {

std::string new_run_id() {
  std::random_device device;
  std::string id;
  static const char* kHex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) id.push_back(kHex[device() & 15]);
  return id;
}

namespace {

Status load_initial_parameters(const std::string& path, const TrainingState& state, std::vector<float>* params) {
  char magic[4] = {};
  if (std::ifstream in(path, std::ios::binary); in && in.read(magic, 4) && std::memcmp(magic, "PK\x03\x04", 4) == 0) {
    // A torch.save file (the paper's transformer, TransformerLens's state dict, the seed's): its model must be this one.
    TorchCheckpoint torch;
    BILMOD_TRY(load_torch_checkpoint(path, &torch));
    bool same = torch.state.layout().parameters.size() == state.layout().parameters.size();
    for (size_t i = 0; same && i < state.layout().parameters.size(); ++i)
      same = torch.state.layout().parameters[i].name == state.layout().parameters[i].name &&
             torch.state.layout().parameters[i].torch_shape == state.layout().parameters[i].torch_shape;
    if (!same)
      return Status::runtime("--init-from " + path + ": holds a " + describe_model(torch.state.spec()) +
                             ", not this run's " + describe_model(state.spec()) +
                             " (check --mod-basis and the model's sizes)");
    *params = torch.state.params;
    return Status::ok();
  }
  SafetensorsFile file;
  BILMOD_TRY(read_safetensors(path, &file));
  std::vector<float> torch_order;
  for (const ParameterInfo& info : state.layout().parameters) {
    if (Status got = file.get_f32(info.name, info.torch_shape, &torch_order); !got)
      return Status::runtime("--init-from " + path + ": " + got.message() + " (a " +
                             model_kind_name(state.config().model) +
                             " model with P = " + std::to_string(state.config().mod_basis) +
                             ", H = " + std::to_string(state.config().hidden_dim) + " needs it)");
    for (float x : torch_order)
      if (!std::isfinite(x))
        return Status::runtime("--init-from " + path + ": tensor '" + info.name + "' holds a non-finite value");
    from_torch_order(info, torch_order.data(), params->data() + info.offset);
  }
  return Status::ok();
}

}  // namespace

Status create_training_state(const RunConfig& config, TrainingState* out) {
  BILMOD_TRY(config.validate());
  TrainingState s;
  s.set_config(config);
  s.data = config.make_data();
  s.params.assign(s.layout().total, 0.0f);
  if (config.init_from.empty())
    init_parameters(s.spec(), s.layout(), config.seed, s.params.data());
  else
    BILMOD_TRY(load_initial_parameters(config.init_from, s, &s.params));
  // Omnigrok's --init-scale, then the norm --fixed-norm keeps (optim/fixed_norm.h): both before checkpoint_epoch_0.
  if (config.init_scale != 1.0) scale_parameters(s.params.data(), s.params.size(), config.init_scale);
  s.initial_norm = l2_norm(s.params.data(), s.params.size());
  s.optimizer.reset(config.optimizer_settings(), s.layout().total);
  s.grokfast.reset(config.grokfast_settings(), s.layout().total);
  s.run_id = new_run_id();
  s.run_name = config.run_name;
  *out = std::move(s);
  return Status::ok();
}

namespace {

// Everything one step needs, allocated once per run.
struct StepBuffers {
  std::vector<float> grads;  // (N,) dL/dparams, zeroed at each optimiser step
  BatchActivations act;
  std::vector<int64_t> pairs;   // (micro,) the micro-batch's pair indices
  std::vector<int32_t> labels;  // (micro,)
  std::vector<double> loss;     // (micro,) per-example loss
};

Status save(TrainingState* state, const std::vector<TrainingObserver*>& observers) {
  const std::string path = checkpoint_path(state->config().checkpoint_dir, state->epoch);
  // A checkpoint never holds a diverged state: the last good one stays the latest on disk.
  for (const std::vector<float>* buffer :
       {&state->params, &state->optimizer.exp_avg, &state->optimizer.exp_avg_sq, &state->optimizer.momentum_buffer})
    for (float x : *buffer)
      if (!std::isfinite(x))
        return Status::runtime("training diverged by epoch " + std::to_string(state->epoch) + ", step " +
                               std::to_string(state->step) + ": a " +
                               (buffer == &state->params ? "parameter" : "optimiser moment") +
                               " is no longer finite; lower --learning-rate. No checkpoint was written for this "
                               "state; the earlier ones are intact");
  for (auto* o : observers) o->before_checkpoint(*state);
  BILMOD_TRY(save_checkpoint(path, *state));
  for (auto* o : observers) o->on_checkpoint(*state, path);
  return Status::ok();
}

std::string stop_message(int signal, const TrainingState& state) {
  return stop_signal_name(signal) + ": stopped after step " + std::to_string(state.step) + " (epoch " +
         std::to_string(state.epoch) + " + " + std::to_string(state.epoch_step) +
         " steps); resume with --resume-from " + checkpoint_path(state.config().checkpoint_dir, state.epoch);
}

nlohmann::json evaluation_metrics(TrainingState* state, EvaluationWorkspace* ws, double epoch_loss, double lr,
                                  double grad_norm) {
  const std::vector<const Measure*> measures =
      applicable_measures(state->spec(), state->layout(), Measure::When::kEveryEvaluation);
  EvaluationOptions base;
  base.loss = state->config().loss_settings();
  const EvaluationOptions options = measure_evaluation_options(measures, base);
  const SplitMetrics m =
      evaluate_splits(state->spec(), state->layout(), state->params.data(), state->data, ws, options);
  nlohmann::json j = {{"epoch", state->epoch},
                      {"train/loss", m.train_loss},
                      {"train/accuracy", m.train_accuracy},
                      {"val/loss", m.val_loss},
                      {"val/accuracy", m.val_accuracy},
                      {"lr", lr},
                      {"weight_norm", l2_norm(state->params.data(), state->params.size())}};
  if (!std::isnan(epoch_loss)) j["train/epoch_loss"] = epoch_loss;
  if (!std::isnan(grad_norm)) j["grad_norm"] = grad_norm;
  // The measures of docs/MODELS.md "Interventions and measures" (train/measure.h).
  log_measures(measures, {state->spec(), state->layout(), state->params.data(), m, *ws}, &j);
  return j;
}

}  // namespace

Status train(TrainingState* state, const std::vector<TrainingObserver*>& observers) {
  const RunConfig& config = state->config();
  const ModelSpec& spec = state->spec();
  const OptimizerSettings optimizer = config.optimizer_settings();
  const LrSchedule schedule = config.lr_schedule;
  const int64_t n_train = static_cast<int64_t>(state->data.train_indices.size());
  const int64_t micro = config.full_batch ? n_train : std::min<int64_t>(config.batch_size, n_train);
  const int64_t accum = config.grad_accum_steps;
  const int64_t n_micro = (n_train + micro - 1) / micro;
  const int64_t steps_per_epoch = config.steps_per_epoch(n_train);
  const int64_t total_steps = config.epochs * steps_per_epoch;
  const LossSettings loss_settings = config.loss_settings();
  const GrokfastSettings grokfast = config.grokfast_settings();

  for (auto* o : observers) BILMOD_TRY(o->on_start(*state));
  if (grokfast.kind != GrokfastKind::kNone)
    log::info("grokfast " + grokfast_kind_name(config.grokfast) + ": filter state of " +
                  std::to_string(grokfast_state_bytes(grokfast, state->layout().total) >> 10) + " KiB",
              {{"grokfast_state_bytes", grokfast_state_bytes(grokfast, state->layout().total)},
               {"limit_bytes", kGrokfastMaxStateBytes}});
  StepBuffers buf;
  buf.grads.assign(state->layout().total, 0.0f);
  // A model may have a parameter whose rows a batch's pairs alone select (the seed model's bilinear.weight, one row
  // of H per pair): the optimiser may update such rows when next read (optim/lazy_rows.h). A gradient transform
  // (grokfast, OrthoGrad) gives every row a non-zero gradient, and --fixed-norm rescales every row after every step
  // (a lazy row's replay would miss those factors, and the norm reads every row), so those runs declare no sparse rows.
  const bool dense_steps = grokfast.kind != GrokfastKind::kNone || config.orthograd || config.fixed_norm;
  const Model::SparseRows model_rows = model_of(spec).sparse_rows(spec, state->layout());
  const ParameterInfo* row_block = dense_steps ? nullptr : model_rows.parameter;
  const SparseRows sparse_rows =
      row_block ? SparseRows{row_block->offset, model_rows.rows, model_rows.row_length} : SparseRows{};
  Optimizer opt(optimizer, state->params.data(), &state->optimizer, state->layout().total,
                row_block ? &sparse_rows : nullptr);
  // Whatever the outcome, the parameters and moments are up to date when train returns.
  auto finish = [&](Status outcome) {
    opt.sync();
    for (auto* o : observers) o->on_finish(*state, outcome);
    return outcome;
  };
  buf.act.reserve(spec, micro);
  buf.pairs.resize(static_cast<size_t>(micro));
  buf.labels.resize(static_cast<size_t>(micro));
  buf.loss.resize(static_cast<size_t>(micro));
  EvaluationWorkspace eval_ws;
  // The model's prepare() of the current parameters (the transformer's tables): made at the first forward pass after a
  // change, shared by an evaluation and the next step's forward, dropped by every step and sync.
  std::shared_ptr<const PreparedParameters> prepared;
  auto prepared_now = [&] {
    if (!prepared) prepared = network_prepare(spec, state->layout(), state->params.data());
    return prepared;
  };

  if (state->step == 0 && state->epoch == 0 && state->epoch_step == 0) {
    // The initial state: metrics of the untrained model, and checkpoint_epoch_0 with the split.
    eval_ws.prepared = prepared_now();
    state->metrics = evaluation_metrics(
        state, &eval_ws, NAN,
        learning_rate_at(schedule, config.learning_rate, config.warmup_steps, total_steps, 1, config.warmup_convention),
        NAN);
    for (auto* o : observers) o->on_evaluation(*state, state->metrics);
    if (Status saved = save(state, observers); !saved) return finish(saved);
  }

  // The pairs order[begin, begin + count) into the batch buffers.
  auto take_pairs = [&](const std::vector<int32_t>& order, int64_t begin, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
      buf.pairs[i] = state->data.train_indices[order[begin + i]];
      buf.labels[i] = state->data.label[buf.pairs[i]];
    }
  };
  // Forward, loss and backward of the batch in the buffers, its gradient scaled by grad_scale and added into
  // buf.grads; returns its mean loss.
  auto forward_backward = [&](int64_t count, float grad_scale) {
    network_forward(spec, state->layout(), state->params.data(), buf.pairs.data(), count, &buf.act, prepared_now());
    compute_loss(loss_settings, buf.act.logits.data(), buf.labels.data(), count, spec.num_logits(), grad_scale,
                 buf.act.logits.data(), buf.loss.data(), nullptr);
    network_backward(spec, state->layout(), state->params.data(), buf.pairs.data(), count, &buf.act, buf.grads.data());
    double sum = 0;
    for (int64_t i = 0; i < count; ++i) sum += buf.loss[i];
    return sum / static_cast<double>(count);
  };

  // --threads 0: the steps take the thread count measured fastest for this run's step (train/step_threads.h), on
  // the first batch, with nothing kept; evaluation and the epoch's sync take every core. The same bits at any count.
  const int all_threads = omp_get_max_threads();
  int step_threads = all_threads;
  if (config.threads == 0 && all_threads > 1 && state->epoch < config.epochs) {
    take_pairs(epoch_order(n_train, config.seed, state->epoch), 0, micro);
    step_threads = choose_step_threads(all_threads, micro, [&] { forward_backward(micro, 1.0f); });
    std::fill(buf.grads.begin(), buf.grads.end(), 0.0f);  // the timed steps' gradients, all of them
  }

  double lr = 0;
  for (int64_t epoch = state->epoch; epoch < config.epochs; ++epoch) {
    omp_set_num_threads(step_threads);
    const std::vector<int32_t> order = epoch_order(n_train, config.seed, epoch);
    const bool evaluate_now = (epoch + 1) % config.eval_every == 0 || epoch + 1 == config.epochs;
    double grad_norm = NAN;
    for (int64_t s = state->epoch_step; s < steps_per_epoch; ++s) {
      opt.zero_grad(buf.grads.data());
      const int64_t first = s * accum, last = std::min(first + accum, n_micro);
      double batch_loss = 0;
      for (int64_t j = first; j < last; ++j) {
        const int64_t begin = j * micro, count = std::min(micro, n_train - begin);
        take_pairs(order, begin, count);
        opt.prepare_rows(buf.pairs.data(), count);  // the rows this forward pass reads
        // Each micro-batch's mean loss is divided by k (docs/MODELS.md "Gradient accumulation and batches").
        const float grad_scale = static_cast<float>(1.0 / (static_cast<double>(count) * static_cast<double>(accum)));
        batch_loss += forward_backward(count, grad_scale);
      }
      batch_loss /= static_cast<double>(last - first);
      if (!std::isfinite(batch_loss)) {
        return finish(Status::runtime(
            "training diverged at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(state->step + 1) +
            ": the batch loss is " + (std::isnan(batch_loss) ? "NaN" : "infinite") +
            "; lower --learning-rate or raise --eps. The checkpoints already written are intact"));
      }
      lr = learning_rate_at(schedule, config.learning_rate, config.warmup_steps, total_steps, state->step + 1,
                            config.warmup_convention);
      if (evaluate_now && s + 1 == steps_per_epoch) grad_norm = l2_norm(buf.grads.data(), buf.grads.size());
      // Between backward and the step, in the order a PyTorch loop applies them: the gradient filter after
      // backward, OrthoGrad inside the optimiser's step, before the base optimiser.
      if (grokfast.kind != GrokfastKind::kNone)
        grokfast_apply(grokfast, &state->grokfast, buf.grads.data(), buf.grads.size());
      if (config.orthograd)
        for (const ParameterInfo& info : state->layout().parameters)
          orthograd_tensor(state->params.data() + info.offset, buf.grads.data() + info.offset, info.size);
      opt.step(lr, buf.grads.data());
      // Omnigrok's --fixed-norm (optim/fixed_norm.h): after the step, every parameter times initial_norm / norm, the
      // norm over the whole vector in fixed order (any thread count, the same factor); the moments are untouched.
      if (config.fixed_norm)
        restore_norm(state->params.data(), state->params.size(), l2_norm(state->params.data(), state->params.size()),
                     state->initial_norm);
      prepared.reset();
      state->step += 1;
      state->epoch_step = s + 1;
      state->epoch_loss_sum += batch_loss;
      const StepReport report{state->step, epoch, s + 1, batch_loss, lr};
      for (auto* o : observers) o->on_step(report);
      const int signal = g_stop_signal.load();
      if (signal != 0 && s + 1 < steps_per_epoch) {
        // Stopped inside an epoch: the checkpoint records the place within it, so a resume continues exactly here.
        opt.sync();
        if (Status saved = save(state, observers); !saved) return finish(saved);
        return finish(Status::interrupted(signal == SIGTERM, stop_message(signal, *state)));
      }
    }
    const double epoch_loss = state->epoch_loss_sum / static_cast<double>(steps_per_epoch);
    state->epoch = epoch + 1;
    state->epoch_step = 0;
    state->epoch_loss_sum = 0;
    omp_set_num_threads(all_threads);
    opt.sync();  // once per epoch: evaluation, norms and checkpoints below read every parameter
    prepared.reset();
    if (evaluate_now) {
      eval_ws.prepared = prepared_now();
      state->metrics = evaluation_metrics(state, &eval_ws, epoch_loss, lr, grad_norm);
      for (auto* o : observers) o->on_evaluation(*state, state->metrics);
    }
    const bool stop_early =
        std::any_of(observers.begin(), observers.end(), [](auto* o) { return o->stop_requested(); });
    // Read once: a signal arriving between the checkpoint decision and the stop would otherwise end the run
    // without the checkpoint its message names (a later signal is seen after the next step).
    const int stop_signal = g_stop_signal.load();
    const bool checkpoint_now = (config.checkpoint_every > 0 && state->epoch % config.checkpoint_every == 0) ||
                                state->epoch == config.epochs || stop_signal != 0 || stop_early;
    if (checkpoint_now)
      if (Status saved = save(state, observers); !saved) return finish(saved);
    if (stop_early && state->epoch < config.epochs)
      return finish(Status::ok());  // the run's last checkpoint is this epoch's
    if (stop_signal != 0 && state->epoch < config.epochs)
      return finish(Status::interrupted(stop_signal == SIGTERM, stop_message(stop_signal, *state)));
  }
  return finish(Status::ok());
}

}  // namespace bilmod
