#include "config/run_config.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "data/dataset.h"

namespace bilmod {

namespace {
// Whether a JSON value has the setting's own type: nlohmann would otherwise convert 7.9 or true to an integer
// (and 1e300 to an integer is undefined behaviour).
template <typename T>
bool json_holds(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_unsigned_v<T>) return v.is_number_unsigned();
  else if constexpr (std::is_integral_v<T>) return v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else return v.is_string();
}
}  // namespace

ModelSpec RunConfig::model_spec() const {
  ModelSpec spec;
  spec.kind = *parse_model_kind(model);
  spec.mod_basis = mod_basis;
  spec.hidden_dim = use_output_projection ? hidden_dim : mod_basis;
  spec.activation = *parse_activation(activation);
  spec.bias = bias;
  spec.output_projection = use_output_projection;
  spec.d_model = d_model;
  spec.num_heads = num_heads;
  spec.d_mlp = d_mlp > 0 ? d_mlp : 4 * d_model;
  spec.mlp = *parse_transformer_mlp(mlp);
  return spec;
}

Operation RunConfig::parsed_operation() const { return *parse_operation(operation); }

Dataset RunConfig::make_data() const {
  return split == "torch" ? make_torch_split_dataset(mod_basis, parsed_operation(), train_frac, effective_data_seed())
                          : make_dataset(mod_basis, parsed_operation(), train_frac, effective_data_seed());
}

OptimizerSettings RunConfig::optimizer_settings() const {
  OptimizerSettings s;
  s.kind = *parse_optimizer_kind(optimizer);
  s.weight_decay = weight_decay;
  s.beta1 = beta1;
  s.beta2 = beta2;
  s.eps = eps;
  s.momentum = momentum;
  return s;
}

LrSchedule RunConfig::parsed_lr_schedule() const { return *parse_lr_schedule(lr_schedule); }
WarmupConvention RunConfig::parsed_warmup_convention() const { return *parse_warmup_convention(warmup_convention); }

GrokfastSettings RunConfig::grokfast_settings() const {
  GrokfastSettings s;
  s.kind = *parse_grokfast_kind(grokfast);
  s.alpha = grokfast_alpha;
  s.lamb = grokfast_lamb >= 0 ? grokfast_lamb : (s.kind == GrokfastKind::kMa ? 5.0 : 2.0);  // grokfast.py's defaults
  s.window = grokfast_window;
  return s;
}

LossSettings RunConfig::loss_settings() const {
  LossSettings s;
  s.kind = *parse_loss_kind(loss);
  s.float64 = loss_precision == "float64";
  return s;
}

int64_t RunConfig::steps_per_epoch(int64_t n_train) const {
  if (full_batch) return 1;
  const int64_t micro_batches = (n_train + batch_size - 1) / batch_size;
  return (micro_batches + grad_accum_steps - 1) / grad_accum_steps;
}

Status RunConfig::validate() const {
  auto bad = [](const std::string& what) { return Status::usage(what); };
  if (mod_basis < 2 || mod_basis > 46340)
    return bad("--mod-basis " + std::to_string(mod_basis) + " is out of range: P must be an integer from 2 to 46340");
  if (!parse_operation(operation)) {
    std::string names;
    for (const auto& n : operation_names()) names += (names.empty() ? "" : ", ") + n;
    return bad("--operation '" + operation + "' is not known: use one of " + names);
  }
  if (*parse_operation(operation) == Operation::kDiv && !is_prime(mod_basis))
    return bad("--operation div needs a prime --mod-basis (b must have an inverse mod P), but " +
               std::to_string(mod_basis) + " is not prime");
  if (!parse_model_kind(model))
    return bad("--model '" + model + "' is not known: use bilinear, factored, mlp or transformer");
  if (!parse_transformer_mlp(mlp)) return bad("--mlp '" + mlp + "' is not known: use relu, gelu or bilinear");
  if (mlp != "relu" && model != "transformer")
    return bad("--mlp " + mlp + " applies to --model transformer only (the others take --activation)");
  if (d_model < 1 || d_model > 65536) return bad("--d-model must be from 1 to 65536, got " + std::to_string(d_model));
  if (num_heads < 1 || d_model % num_heads != 0)
    return bad("--num-heads " + std::to_string(num_heads) + " must be at least 1 and divide --d-model " +
               std::to_string(d_model) + " (d_head = d_model / heads)");
  if (d_mlp < 0 || d_mlp > 1 << 20)
    return bad("--d-mlp must be from 1 to 1048576 (0: 4 x --d-model), got " + std::to_string(d_mlp));
  if (model == "transformer" && mod_basis > 4096)
    return bad("--model transformer takes --mod-basis up to 4096 (its tables grow with P), got " + std::to_string(mod_basis));
  if (!parse_activation(activation)) return bad("--activation '" + activation + "' is not known: use relu, quad or none");
  if (activation == "quad" && model != "mlp") return bad("--activation quad applies to --model mlp only");
  if (activation == "none" && model != "bilinear")
    return bad("--activation none applies to --model bilinear only (mlp takes relu or quad, factored has none)");
  if (activation != "relu" && (model == "factored" || model == "transformer"))
    return bad("--activation " + activation + " does not apply to --model " + model +
               (model == "factored" ? " (its hidden layer is l * r)" : " (it takes --mlp relu|gelu|bilinear)"));
  if ((!bias || !use_output_projection) && model != "bilinear")
    return bad(std::string(!bias ? "--no-bias" : "--no-output-projection") + " applies to --model bilinear only");
  if (!use_output_projection && activation != "none")
    return bad("--no-output-projection maps the bilinear layer straight to the logits, with no activation: --activation " +
               activation + " contradicts it (leave it out, or use --activation none)");
  if (!use_output_projection && hidden_dim != mod_basis)
    return bad("--hidden-dim does not apply with --no-output-projection: the bilinear layer's width is P = " +
               std::to_string(mod_basis));
  if (hidden_dim < 1) return bad("--hidden-dim must be at least 1, got " + std::to_string(hidden_dim));
  if (hidden_dim > (int64_t{1} << 30))
    return bad("--hidden-dim must be at most 1073741824, got " + std::to_string(hidden_dim));
  // Every size above is bounded, so the count cannot overflow; a model beyond 2^40 parameters (4 TiB of float32) is
  // no model any machine trains, and whatever states it (a flag, a file's shapes) is refused here.
  if (const size_t n = make_parameter_layout(model_spec()).total; n > (size_t{1} << 40))
    return bad("the model would have " + std::to_string(n) + " parameters, more than bilmod holds (2^40)");
  if (!std::isfinite(learning_rate) || learning_rate <= 0)
    return bad("--learning-rate must be a positive finite number, got " + std::to_string(learning_rate));
  if (!std::isfinite(weight_decay) || weight_decay < 0)
    return bad("--weight-decay must be a finite number >= 0, got " + std::to_string(weight_decay));
  if (batch_size < 1) return bad("--batch-size must be at least 1, got " + std::to_string(batch_size));
  if (grad_accum_steps < 1) return bad("--grad-accum-steps must be at least 1, got " + std::to_string(grad_accum_steps));
  if (full_batch && grad_accum_steps != 1)
    return bad("--full-batch makes one step over all train pairs; it cannot be combined with --grad-accum-steps");
  if (epochs < 0) return bad("--epochs must be >= 0, got " + std::to_string(epochs));
  if (checkpoint_every < 0) return bad("--checkpoint-every must be >= 0 (0: only the first and last), got " +
                                       std::to_string(checkpoint_every));
  if (eval_every < 1) return bad("--eval-every must be at least 1, got " + std::to_string(eval_every));
  if (!(std::isfinite(train_frac) && train_frac > 0 && train_frac < 1))
    return bad("--train-frac must lie strictly between 0 and 1, got " + std::to_string(train_frac));
  if (split != "bilmod" && split != "torch")
    return bad("--split '" + split + "' is not known: use bilmod (its own shuffle) or torch (the upstream's torch.randperm)");
  // Counted, not built: a P near the limit would need gigabytes for the table itself.
  const int64_t n_pairs = *parse_operation(operation) == Operation::kDiv ? mod_basis * (mod_basis - 1) : mod_basis * mod_basis;
  const int64_t n_train = split == "torch" ? static_cast<int64_t>(static_cast<double>(n_pairs) * train_frac)
                                           : train_count(n_pairs, train_frac);
  if (n_train < 1 || n_train >= n_pairs)
    return bad("--train-frac " + std::to_string(train_frac) + " leaves the " +
               (n_train < 1 ? std::string("train") : std::string("validation")) + " split empty (" +
               std::to_string(n_pairs) + " pairs); choose a fraction that keeps both non-empty");
  if (!parse_optimizer_kind(optimizer)) return bad("--optimizer '" + optimizer + "' is not known: use adamw or sgd");
  if (!(beta1 >= 0 && beta1 < 1)) return bad("--beta1 must lie in [0, 1), got " + std::to_string(beta1));
  if (!(beta2 >= 0 && beta2 < 1)) return bad("--beta2 must lie in [0, 1), got " + std::to_string(beta2));
  if (!(std::isfinite(eps) && eps > 0)) return bad("--eps must be a positive finite number, got " + std::to_string(eps));
  if (!(std::isfinite(momentum) && momentum >= 0))
    return bad("--momentum must be a finite number >= 0, got " + std::to_string(momentum));
  if (warmup_steps < 0) return bad("--warmup-steps must be >= 0, got " + std::to_string(warmup_steps));
  if (!parse_lr_schedule(lr_schedule)) return bad("--lr-schedule '" + lr_schedule + "' is not known: use constant or cosine");
  if (!parse_warmup_convention(warmup_convention))
    return bad("--warmup-convention '" + warmup_convention + "' is not known: use bilmod or lambdalr");
  if (threads < 0) return bad("--threads must be >= 0 (0: every core), got " + std::to_string(threads));
  static const char* kLevels[] = {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"};
  bool level_ok = false;
  for (const char* l : kLevels) level_ok = level_ok || log_level == l;
  if (!level_ok) return bad("--log-level '" + log_level + "' is not known: use TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL");
  if (!parse_grokfast_kind(grokfast)) return bad("--grokfast '" + grokfast + "' is not known: use none, ema or ma");
  if (!(grokfast_alpha >= 0 && grokfast_alpha < 1))
    return bad("--grokfast-alpha must lie in [0, 1), got " + std::to_string(grokfast_alpha));
  if (!(std::isfinite(grokfast_lamb) && (grokfast_lamb >= 0 || grokfast_lamb == -1)))
    return bad("--grokfast-lamb must be a finite number >= 0 (or -1: 2 for ema, 5 for ma), got " + std::to_string(grokfast_lamb));
  if (grokfast_window < 1 || grokfast_window > 1000000)
    return bad("--grokfast-window must be an integer from 1 to 1000000, got " + std::to_string(grokfast_window));
  if (grokfast != "none") {
    const uint64_t n_params = make_parameter_layout(model_spec()).total;
    const uint64_t bytes = grokfast_state_bytes(grokfast_settings(), n_params);
    if (bytes > kGrokfastMaxStateBytes)
      return bad("--grokfast " + grokfast + " would keep " + std::to_string(bytes >> 20) + " MiB of filter state (" +
                 (grokfast == "ma" ? std::to_string(grokfast_window) + " gradients of " : std::string("")) +
                 std::to_string(n_params) + " parameters), over the limit of " +
                 std::to_string(kGrokfastMaxStateBytes >> 20) + " MiB: lower --grokfast-window or use --grokfast ema");
  }
  if (!parse_loss_kind(loss)) return bad("--loss '" + loss + "' is not known: use cross_entropy, stablemax or mse");
  if (loss_precision != "float32" && loss_precision != "float64")
    return bad("--loss-precision '" + loss_precision + "' is not known: use float32 or float64");
  if (checkpoint_dir.empty()) return bad("--checkpoint-dir must not be empty");
  if (project.empty() || project.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
    return bad("--project '" + project + "' may hold only letters, digits, '_' and '-'");
  return Status::ok();
}

// One table drives both directions of the JSON conversion, so a new setting cannot be saved but not loaded.
#define BILMOD_CONFIG_FIELDS(X)                                                                                    \
  X(mod_basis) X(hidden_dim) X(batch_size) X(learning_rate) X(weight_decay) X(epochs) X(grad_accum_steps)          \
  X(checkpoint_dir) X(checkpoint_every) X(resume_from) X(seed) X(log_level) X(model) X(activation) X(bias)         \
  X(use_output_projection) X(operation)                                                                           \
  X(train_frac) X(data_seed) X(split) X(full_batch) X(optimizer) X(beta1) X(beta2) X(eps) X(momentum) X(warmup_steps)       \
  X(warmup_convention)                                                                                            \
  X(lr_schedule) X(eval_every) X(init_from) X(threads) X(log_file) X(no_progress) X(project) X(run_name) X(group) \
  X(tracking_dir) X(no_track) X(grokfast) X(grokfast_alpha) X(grokfast_lamb) X(grokfast_window) X(orthograd) X(loss)  \
  X(loss_precision) X(d_model) X(num_heads) X(d_mlp) X(mlp) X(preset)

nlohmann::json to_json(const RunConfig& c) {
  nlohmann::json j;
#define BILMOD_WRITE(field) j[#field] = c.field;
  BILMOD_CONFIG_FIELDS(BILMOD_WRITE)
#undef BILMOD_WRITE
  return j;
}

Status config_from_json(const nlohmann::json& j, RunConfig* c) {
  if (!j.is_object()) return Status::runtime("config is not a JSON object");
  RunConfig out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    try {
#define BILMOD_READ(field)                                \
  if (it.key() == #field) {                               \
    if (!json_holds<decltype(out.field)>(it.value()))     \
      throw std::invalid_argument(#field);                \
    it.value().get_to(out.field);                         \
    known = true;                                         \
  }
      BILMOD_CONFIG_FIELDS(BILMOD_READ)
#undef BILMOD_READ
    } catch (const std::exception&) {
      // An array or object is named, not printed: printing recurses once per level of nesting.
      return Status::runtime("config value of '" + it.key() + "' has the wrong type: " +
                             (it.value().is_structured() ? std::string("an ") + it.value().type_name() : it.value().dump()));
    }
    if (!known) return Status::runtime("config has an unknown setting '" + it.key() + "' (--" + flag_name(it.key()) + ")");
  }
  *c = std::move(out);
  return Status::ok();
}

std::string flag_name(const std::string& key) {
  // The negative flags set a positive setting (--no-bias: bias = false).
  if (key == "bias") return "no-bias";
  if (key == "use_output_projection") return "no-output-projection";
  std::string name = key;
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

std::string setting_name(const std::string& flag) {
  std::string key = flag.rfind("--", 0) == 0 ? flag.substr(2) : flag;
  std::replace(key.begin(), key.end(), '-', '_');
  if (key == "no_bias") return "bias";
  if (key == "no_output_projection") return "use_output_projection";
  return key;
}

Status apply_preset(const std::string& name, const std::vector<std::string>& given, RunConfig* c) {
  if (name.empty()) return Status::ok();
  RunConfig preset;  // "seed": the defaults themselves
  if (name == "nanda2023") {
    // Nanda et al. 2023 (progress-measures-paper): P 113, 30 % train, full batch, AdamW lr 1e-3, wd 1,
    // betas (0.9, 0.98), LambdaLR(lambda step: min(step / 10, 1)) stepped after each step; 25 000 epochs as
    // TransformerLens's grokking demo.
    preset.model = "transformer";
    preset.mod_basis = 113;
    preset.train_frac = 0.3;
    preset.full_batch = true;
    preset.optimizer = "adamw";
    preset.learning_rate = 1e-3;
    preset.weight_decay = 1.0;
    preset.beta1 = 0.9;
    preset.beta2 = 0.98;
    preset.warmup_steps = 10;
    preset.warmup_convention = "lambdalr";
    preset.epochs = 25000;
    preset.d_model = 128;
    preset.num_heads = 4;
    preset.d_mlp = 512;
    preset.mlp = "relu";
    preset.checkpoint_every = 1000;  // 25 checkpoints of 2.7 MB rather than 250
  } else if (name != "seed") {
    return Status::usage("--preset '" + name + "' is not known: use seed or nanda2023");
  }
  nlohmann::json resolved = to_json(*c);
  const nlohmann::json values = to_json(preset);
  for (auto it = values.begin(); it != values.end(); ++it)
    if (std::find(given.begin(), given.end(), it.key()) == given.end()) resolved[it.key()] = it.value();
  resolved["preset"] = name;
  // Settings that are not the run's own (where it writes, how it logs) stay as given or defaulted.
  for (const char* key : {"checkpoint_dir", "resume_from", "log_level", "init_from", "threads", "log_file", "no_progress",
                          "project", "run_name", "group", "tracking_dir", "no_track"})
    resolved[key] = to_json(*c)[key];
  return config_from_json(resolved, c);
}

const std::vector<std::string>& model_defining_settings() {
  static const std::vector<std::string> keys = {"model",      "mod_basis", "hidden_dim", "activation", "bias",
                                                "use_output_projection",  "operation",  "train_frac", "data_seed",
                                                "split",      "seed",      "d_model",    "num_heads",  "d_mlp",
                                                "mlp"};
  return keys;
}

}  // namespace bilmod
