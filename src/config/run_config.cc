#include "config/run_config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <type_traits>

#include "data/dataset.h"
#include "model/model.h"

namespace bilmod {

namespace {
// Whether a JSON value has the setting's own type: nlohmann would otherwise convert 7.9 or true to an integer
// (and 1e300 to an integer is undefined behaviour).
template <typename T>
bool json_holds(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, bool>)
    return v.is_boolean();
  else if constexpr (std::is_unsigned_v<T>)
    return v.is_number_unsigned();
  else if constexpr (std::is_integral_v<T>)
    return v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>)
    return v.is_number();
  else
    return v.is_string();
}

// A named setting's name, for to_json; the other settings are their own JSON value.
std::string name_of(ModelKind v) { return model_kind_name(v); }
std::string name_of(Activation v) { return activation_name(v); }
std::string name_of(TransformerMlp v) { return transformer_mlp_name(v); }
std::string name_of(Operation v) { return operation_name(v); }
std::string name_of(SplitKind v) { return split_kind_name(v); }
std::string name_of(OptimizerKind v) { return optimizer_kind_name(v); }
std::string name_of(LrSchedule v) { return lr_schedule_name(v); }
std::string name_of(WarmupConvention v) { return warmup_convention_name(v); }
std::string name_of(GrokfastKind v) { return grokfast_kind_name(v); }
std::string name_of(LossKind v) { return loss_kind_name(v); }
std::string name_of(LossPrecision v) { return loss_precision_name(v); }

template <typename T>
nlohmann::json json_value(const T& v) {
  if constexpr (std::is_enum_v<T>)
    return name_of(v);
  else
    return v;
}

// One value of a saved config: a named setting's name is kept in `names`, to be parsed once every type is checked.
template <typename T>
void read_json_value(const nlohmann::json& v, const char* key, T* field, std::map<std::string, std::string>* names) {
  if constexpr (std::is_enum_v<T>) {
    if (!v.is_string()) throw std::invalid_argument(key);
    (*names)[key] = v.get<std::string>();
  } else {
    if (!json_holds<T>(v)) throw std::invalid_argument(key);
    v.get_to(*field);
  }
}

template <typename E>
Status set_named(std::optional<E> parsed, E* field, const std::string& key, const std::string& name,
                 const std::string& choices) {
  if (!parsed) return Status::usage("--" + flag_name(key) + " '" + name + "' is not known: use " + choices);
  *field = *parsed;
  return Status::ok();
}
}  // namespace

const std::vector<std::string>& named_settings() {
  static const std::vector<std::string> keys = {"operation", "model",     "mlp",           "activation",
                                                "split",     "optimizer", "lr_schedule",   "warmup_convention",
                                                "grokfast",  "loss",      "loss_precision"};
  return keys;
}

Status parse_named_setting(const std::string& key, const std::string& name, RunConfig* c) {
  if (key == "operation") {
    std::string names;
    for (const auto& n : operation_names()) names += (names.empty() ? "" : ", ") + n;
    return set_named(parse_operation(name), &c->operation, key, name, "one of " + names);
  }
  if (key == "model")
    return set_named(parse_model_kind(name), &c->model, key, name,
                     "bilinear, factored, mlp, transformer or clock-pizza");
  if (key == "mlp") return set_named(parse_transformer_mlp(name), &c->mlp, key, name, "relu, gelu or bilinear");
  if (key == "activation") return set_named(parse_activation(name), &c->activation, key, name, "relu, quad or none");
  if (key == "split")
    return set_named(parse_split_kind(name), &c->split, key, name,
                     "bilmod (its own shuffle) or torch (the upstream's torch.randperm)");
  if (key == "optimizer") return set_named(parse_optimizer_kind(name), &c->optimizer, key, name, "adamw or sgd");
  if (key == "lr_schedule") return set_named(parse_lr_schedule(name), &c->lr_schedule, key, name, "constant or cosine");
  if (key == "warmup_convention")
    return set_named(parse_warmup_convention(name), &c->warmup_convention, key, name, "bilmod or lambdalr");
  if (key == "grokfast") return set_named(parse_grokfast_kind(name), &c->grokfast, key, name, "none, ema or ma");
  if (key == "loss") return set_named(parse_loss_kind(name), &c->loss, key, name, "cross_entropy, stablemax or mse");
  if (key == "loss_precision")
    return set_named(parse_loss_precision(name), &c->loss_precision, key, name, "float32 or float64");
  return Status::runtime("'" + key + "' is not a setting that holds a name");
}

ModelSpec RunConfig::model_spec() const {
  ModelSpec spec;
  spec.kind = model;
  spec.mod_basis = mod_basis;
  spec.hidden_dim = use_output_projection ? hidden_dim : mod_basis;
  spec.activation = activation;
  spec.bias = bias;
  spec.output_projection = use_output_projection;
  spec.d_model = d_model;
  spec.num_heads = num_heads;
  spec.d_mlp = d_mlp > 0 ? d_mlp : 4 * d_model;
  spec.mlp = mlp;
  spec.num_layers = num_layers;
  spec.attention_rate = attention_rate;
  spec.eqn_sign = eqn_sign;
  spec.diff_vocab = diff_vocab;
  return spec;
}

Dataset RunConfig::make_data() const {
  return split == SplitKind::kTorch ? make_torch_split_dataset(mod_basis, operation, train_frac, effective_data_seed())
                                    : make_dataset(mod_basis, operation, train_frac, effective_data_seed());
}

OptimizerSettings RunConfig::optimizer_settings() const {
  OptimizerSettings s;
  s.kind = optimizer;
  s.weight_decay = weight_decay;
  s.beta1 = beta1;
  s.beta2 = beta2;
  s.eps = eps;
  s.momentum = momentum;
  return s;
}

GrokfastSettings RunConfig::grokfast_settings() const {
  GrokfastSettings s;
  s.kind = grokfast;
  s.alpha = grokfast_alpha;
  s.lamb = grokfast_lamb >= 0 ? grokfast_lamb : (s.kind == GrokfastKind::kMa ? 5.0 : 2.0);  // grokfast.py's defaults
  s.window = grokfast_window;
  return s;
}

LossSettings RunConfig::loss_settings() const {
  LossSettings s;
  s.kind = loss;
  s.float64 = loss_precision == LossPrecision::kFloat64;
  return s;
}

int64_t RunConfig::steps_per_epoch(int64_t n_train) const {
  if (full_batch) return 1;
  const int64_t micro_batches = (n_train + batch_size - 1) / batch_size;
  return (micro_batches + grad_accum_steps - 1) / grad_accum_steps;
}

namespace {

// "bilinear or mlp": the registered models for which `takes` holds.
template <typename F>
std::string models_that(F takes) {
  std::string names;
  for (const Model* m : registered_models())
    if (takes(*m)) names += (names.empty() ? "" : " or ") + std::string(m->name());
  return names;
}

template <typename T>
bool contains(const std::vector<T>& v, T x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The settings only some models take, checked against what the model says it takes (model/model.h).
Status check_model_settings(const RunConfig& c) {
  const Model& model = model_of(c.model_spec());
  const std::string name = model.name();
  const std::vector<Activation> activations = model.activations();
  if (activations.empty() ? c.activation != Activation::kRelu : !contains(activations, c.activation)) {
    std::string takes = "--model " + name + " takes ";
    if (activations.empty()) {
      takes += "no --activation";
    } else {
      for (size_t i = 0; i < activations.size(); ++i) takes += (i ? " or " : "") + activation_name(activations[i]);
    }
    return Status::usage("--activation " + activation_name(c.activation) + " applies to --model " +
                         models_that([&](const Model& m) { return contains(m.activations(), c.activation); }) +
                         " only (" + takes + ")");
  }
  const std::vector<TransformerMlp> mlps = model.mlps();
  if (mlps.empty() ? c.mlp != TransformerMlp::kRelu : !contains(mlps, c.mlp))
    return Status::usage("--mlp " + transformer_mlp_name(c.mlp) + " applies to --model " +
                         models_that([&](const Model& m) { return contains(m.mlps(), c.mlp); }) + " only (--model " +
                         name + " takes " + (mlps.empty() ? "no --mlp" : "other values") + ")");
  if ((!c.bias || !c.use_output_projection) && !model.has_variants())
    return Status::usage(std::string(!c.bias ? "--no-bias" : "--no-output-projection") + " applies to --model " +
                         models_that([](const Model& m) { return m.has_variants(); }) + " only");
  // Every other model-only setting (a Model::flags() key of some model) must keep its default for a model without it.
  const nlohmann::json given = to_json(c), defaults = to_json(RunConfig{});
  for (const Model* m : registered_models())
    for (const ModelFlag& flag : m->flags()) {
      bool takes = false;
      for (const ModelFlag& own : model.flags()) takes = takes || own.key == flag.key;
      if (!takes && flag.key != "mlp" && given.at(flag.key) != defaults.at(flag.key))
        return Status::usage("--" + flag_name(flag.key) + " applies to --model " + models_that([&](const Model& x) {
                               for (const ModelFlag& f : x.flags())
                                 if (f.key == flag.key) return true;
                               return false;
                             }) +
                             " only");
    }
  if (c.mod_basis > model.max_mod_basis())
    return Status::usage("--model " + name + " takes --mod-basis up to " + std::to_string(model.max_mod_basis()) +
                         ", got " + std::to_string(c.mod_basis));
  return Status::ok();
}

}  // namespace

Status RunConfig::validate() const {
  auto bad = [](const std::string& what) { return Status::usage(what); };
  if (mod_basis < 2 || mod_basis > 46340)
    return bad("--mod-basis " + std::to_string(mod_basis) + " is out of range: P must be an integer from 2 to 46340");
  if (operation == Operation::kDiv && !is_prime(mod_basis))
    return bad("--operation div needs a prime --mod-basis (b must have an inverse mod P), but " +
               std::to_string(mod_basis) + " is not prime");
  if (d_model < 1 || d_model > 65536) return bad("--d-model must be from 1 to 65536, got " + std::to_string(d_model));
  if (num_heads < 1 || d_model % num_heads != 0)
    return bad("--num-heads " + std::to_string(num_heads) + " must be at least 1 and divide --d-model " +
               std::to_string(d_model) + " (d_head = d_model / heads)");
  if (d_mlp < 0 || d_mlp > 1 << 20)
    return bad("--d-mlp must be from 1 to 1048576 (0: 4 x --d-model), got " + std::to_string(d_mlp));
  if (num_layers < 1 || num_layers > 64)
    return bad("--num-layers must be from 1 to 64, got " + std::to_string(num_layers));
  if (!(attention_rate >= 0 && attention_rate <= 1))
    return bad("--attention-rate must lie in [0, 1], got " + std::to_string(attention_rate));
  BILMOD_TRY(check_model_settings(*this));
  if (!use_output_projection && activation != Activation::kNone)
    return bad(
        "--no-output-projection maps the bilinear layer straight to the logits, with no activation: --activation " +
        activation_name(activation) + " contradicts it (leave it out, or use --activation none)");
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
  if (grad_accum_steps < 1)
    return bad("--grad-accum-steps must be at least 1, got " + std::to_string(grad_accum_steps));
  if (full_batch && grad_accum_steps != 1)
    return bad("--full-batch makes one step over all train pairs; it cannot be combined with --grad-accum-steps");
  if (epochs < 0) return bad("--epochs must be >= 0, got " + std::to_string(epochs));
  if (checkpoint_every < 0)
    return bad("--checkpoint-every must be >= 0 (0: only the first and last), got " + std::to_string(checkpoint_every));
  if (eval_every < 1) return bad("--eval-every must be at least 1, got " + std::to_string(eval_every));
  if (!(std::isfinite(train_frac) && train_frac > 0 && train_frac < 1))
    return bad("--train-frac must lie strictly between 0 and 1, got " + std::to_string(train_frac));
  // Counted, not built: a P near the limit would need gigabytes for the table itself.
  const int64_t n_pairs = operation == Operation::kDiv ? mod_basis * (mod_basis - 1) : mod_basis * mod_basis;
  const int64_t n_train = split == SplitKind::kTorch ? static_cast<int64_t>(static_cast<double>(n_pairs) * train_frac)
                                                     : train_count(n_pairs, train_frac);
  if (n_train < 1 || n_train >= n_pairs)
    return bad("--train-frac " + std::to_string(train_frac) + " leaves the " +
               (n_train < 1 ? std::string("train") : std::string("validation")) + " split empty (" +
               std::to_string(n_pairs) + " pairs); choose a fraction that keeps both non-empty");
  if (!(beta1 >= 0 && beta1 < 1)) return bad("--beta1 must lie in [0, 1), got " + std::to_string(beta1));
  if (!(beta2 >= 0 && beta2 < 1)) return bad("--beta2 must lie in [0, 1), got " + std::to_string(beta2));
  if (!(std::isfinite(eps) && eps > 0))
    return bad("--eps must be a positive finite number, got " + std::to_string(eps));
  if (!(std::isfinite(momentum) && momentum >= 0))
    return bad("--momentum must be a finite number >= 0, got " + std::to_string(momentum));
  if (warmup_steps < 0) return bad("--warmup-steps must be >= 0, got " + std::to_string(warmup_steps));
  if (threads < 0) return bad("--threads must be >= 0 (0: every core), got " + std::to_string(threads));
  static const char* kLevels[] = {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"};
  bool level_ok = false;
  for (const char* l : kLevels) level_ok = level_ok || log_level == l;
  if (!level_ok)
    return bad("--log-level '" + log_level +
               "' is not known: use TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL");
  if (!(grokfast_alpha >= 0 && grokfast_alpha < 1))
    return bad("--grokfast-alpha must lie in [0, 1), got " + std::to_string(grokfast_alpha));
  if (!(std::isfinite(grokfast_lamb) && (grokfast_lamb >= 0 || grokfast_lamb == -1)))
    return bad("--grokfast-lamb must be a finite number >= 0 (or -1: 2 for ema, 5 for ma), got " +
               std::to_string(grokfast_lamb));
  if (grokfast_window < 1 || grokfast_window > 1000000)
    return bad("--grokfast-window must be an integer from 1 to 1000000, got " + std::to_string(grokfast_window));
  if (grokfast != GrokfastKind::kNone) {
    const uint64_t n_params = make_parameter_layout(model_spec()).total;
    const uint64_t bytes = grokfast_state_bytes(grokfast_settings(), n_params);
    if (bytes > kGrokfastMaxStateBytes)
      return bad(
          "--grokfast " + grokfast_kind_name(grokfast) + " would keep " + std::to_string(bytes >> 20) +
          " MiB of filter state (" +
          (grokfast == GrokfastKind::kMa ? std::to_string(grokfast_window) + " gradients of " : std::string("")) +
          std::to_string(n_params) + " parameters), over the limit of " + std::to_string(kGrokfastMaxStateBytes >> 20) +
          " MiB: lower --grokfast-window or use --grokfast ema");
  }
  if (!(std::isfinite(init_scale) && init_scale > 0))
    return bad("--init-scale must be a positive finite number, got " + std::to_string(init_scale));
  if (checkpoint_dir.empty()) return bad("--checkpoint-dir must not be empty");
  if (project.empty() || project.find_first_not_of(
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
    return bad("--project '" + project + "' may hold only letters, digits, '_' and '-'");
  return Status::ok();
}

// One table drives both directions of the JSON conversion, so a new setting cannot be saved but not loaded.
#define BILMOD_CONFIG_FIELDS(X)                                                                                     \
  X(mod_basis)                                                                                                      \
  X(hidden_dim)                                                                                                     \
  X(batch_size)                                                                                                     \
  X(learning_rate)                                                                                                  \
  X(weight_decay)                                                                                                   \
  X(epochs) X(grad_accum_steps) X(checkpoint_dir) X(checkpoint_every) X(resume_from) X(seed) X(log_level) X(model)  \
      X(activation) X(bias) X(use_output_projection) X(operation) X(train_frac) X(data_seed) X(split) X(full_batch) \
          X(optimizer) X(beta1) X(beta2) X(eps) X(momentum) X(warmup_steps) X(warmup_convention) X(lr_schedule)     \
              X(eval_every) X(init_from) X(threads) X(log_file) X(no_progress) X(project) X(run_name) X(group)      \
                  X(tracking_dir) X(no_track) X(grokfast) X(grokfast_alpha) X(grokfast_lamb) X(grokfast_window)     \
                      X(orthograd) X(loss) X(loss_precision) X(d_model) X(num_heads) X(d_mlp) X(mlp) X(num_layers)  \
                          X(attention_rate) X(eqn_sign) X(diff_vocab) X(preset) X(init_scale) X(fixed_norm)

nlohmann::json to_json(const RunConfig& c) {
  nlohmann::json j;
#define BILMOD_WRITE(field) j[#field] = json_value(c.field);
  BILMOD_CONFIG_FIELDS(BILMOD_WRITE)
#undef BILMOD_WRITE
  return j;
}

Status config_from_json(const nlohmann::json& j, RunConfig* c) {
  if (!j.is_object()) return Status::runtime("config is not a JSON object");
  RunConfig out;
  std::map<std::string, std::string> names;
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    try {
#define BILMOD_READ(field)                                   \
  if (it.key() == #field) {                                  \
    read_json_value(it.value(), #field, &out.field, &names); \
    known = true;                                            \
  }
      BILMOD_CONFIG_FIELDS(BILMOD_READ)
#undef BILMOD_READ
    } catch (const std::exception&) {
      // An array or object is named, not printed: printing recurses once per level of nesting.
      return Status::runtime(
          "config value of '" + it.key() + "' has the wrong type: " +
          (it.value().is_structured() ? std::string("an ") + it.value().type_name() : it.value().dump()));
    }
    if (!known)
      return Status::runtime("config has an unknown setting '" + it.key() + "' (--" + flag_name(it.key()) + ")");
  }
  for (const std::string& key : named_settings())
    if (const auto name = names.find(key); name != names.end())
      BILMOD_TRY(parse_named_setting(key, name->second, &out));
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
  // What both papers' transformer recipes share: full batch, AdamW lr 1e-3 with betas (0.9, 0.98), the warm-up
  // LambdaLR(lambda step: min(step / 10, 1)) stepped after each step, d_model 128, 4 heads, d_mlp 512, ReLU, and a
  // checkpoint every 1000 epochs (tens of checkpoints of a few MB rather than hundreds).
  auto transformer_recipe = [&](ModelKind model) {
    preset.model = model;
    preset.full_batch = true;
    preset.optimizer = OptimizerKind::kAdamW;
    preset.learning_rate = 1e-3;
    preset.beta1 = 0.9;
    preset.beta2 = 0.98;
    preset.warmup_steps = 10;
    preset.warmup_convention = WarmupConvention::kLambdaLr;
    preset.d_model = 128;
    preset.num_heads = 4;
    preset.d_mlp = 512;
    preset.mlp = TransformerMlp::kRelu;
    preset.checkpoint_every = 1000;
  };
  if (name == "nanda2023") {
    // Nanda et al. 2023 (progress-measures-paper): P 113, 30 % train, weight decay 1; 25 000 epochs as
    // TransformerLens's grokking demo.
    transformer_recipe(ModelKind::kTransformer);
    preset.mod_basis = 113;
    preset.train_frac = 0.3;
    preset.weight_decay = 1.0;
    preset.epochs = 25000;
  } else if (name == "zhong2023") {
    // Zhong et al. 2023 (fjzzq2002/pizza code/train-main.py): P 59, 80 % train, weight decay 2, float64
    // cross-entropy, one block, 20 000 epochs; alpha from --attention-rate (the paper draws it uniformly per run).
    transformer_recipe(ModelKind::kClockPizza);
    preset.mod_basis = 59;
    preset.train_frac = 0.8;
    preset.weight_decay = 2.0;
    preset.loss_precision = LossPrecision::kFloat64;
    preset.num_layers = 1;
    preset.epochs = 20000;
  } else if (name != "seed") {
    return Status::usage("--preset '" + name + "' is not known: use seed, nanda2023 or zhong2023");
  }
  nlohmann::json resolved = to_json(*c);
  const nlohmann::json values = to_json(preset);
  for (auto it = values.begin(); it != values.end(); ++it)
    if (std::find(given.begin(), given.end(), it.key()) == given.end()) resolved[it.key()] = it.value();
  resolved["preset"] = name;
  // Settings that are not the run's own (where it writes, how it logs) stay as given or defaulted.
  for (const char* key : {"checkpoint_dir", "resume_from", "log_level", "init_from", "threads", "log_file",
                          "no_progress", "project", "run_name", "group", "tracking_dir", "no_track"})
    resolved[key] = to_json(*c)[key];
  return config_from_json(resolved, c);
}

const std::vector<std::string>& model_defining_settings() {
  static const std::vector<std::string> keys = {
      "model",     "mod_basis",  "hidden_dim", "activation", "bias",       "use_output_projection",
      "operation", "train_frac", "data_seed",  "split",      "seed",       "d_model",
      "num_heads", "d_mlp",      "mlp",        "init_scale", "num_layers", "attention_rate",
      "eqn_sign",  "diff_vocab"};
  return keys;
}

}  // namespace bilmod
