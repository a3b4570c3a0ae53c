// Every setting of a training run: the seed's flags with its defaults, and bilmod's own.
// Saved whole in every checkpoint (metadata "config") and in the tracking store's config row.
// A setting that names one of a few choices (--model, --operation, ...) holds its enum: the name is parsed once, where
// it enters (the command line: parse_named_setting; a saved config: config_from_json), and saved as the same name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/operation.h"
#include "model/model_spec.h"
#include "model/loss.h"
#include "optim/grokfast.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "util/status.h"

namespace bilmod {

struct RunConfig {
  // The seed's flags.
  int64_t mod_basis = 113;
  int64_t hidden_dim = 100;
  int64_t batch_size = 128;
  double learning_rate = 0.003;
  double weight_decay = 0.5;
  int64_t epochs = 2000;
  int64_t grad_accum_steps = 1;
  std::string checkpoint_dir = "checkpoints";
  int64_t checkpoint_every = 100;
  std::string resume_from;
  uint64_t seed = 0;
  std::string log_level = "INFO";
  // bilmod's.
  ModelKind model = ModelKind::kBilinear;
  Activation activation = Activation::kRelu;
  bool bias = true;                   // bilinear: bilinear.bias and output.bias (the upstream's have neither)
  bool use_output_projection = true;  // bilinear: false maps the bilinear layer straight to the P logits
  // --model transformer (Nanda et al. 2023): d_mlp 0 means 4 * d_model.
  int64_t d_model = 128;
  int64_t num_heads = 4;
  int64_t d_mlp = 0;
  TransformerMlp mlp = TransformerMlp::kRelu;
  // --model clock-pizza (Zhong et al. 2023): blocks, attention rate alpha, an '=' token, b's tokens shifted by P.
  int64_t num_layers = 1;
  double attention_rate = 1.0;
  bool eqn_sign = false;
  bool diff_vocab = false;
  std::string preset;  // the --preset the run started from (its values are the fields themselves)
  Operation operation = Operation::kAdd;
  double train_frac = 0.8;
  int64_t data_seed = -1;  // -1: the value of seed
  SplitKind split =
      SplitKind::kBilmod;  // bilmod's counter-based shuffle, or torch: the upstream's torch.randperm split
  bool full_batch = false;
  OptimizerKind optimizer = OptimizerKind::kAdamW;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double momentum = 0.0;
  int64_t warmup_steps = 0;
  LrSchedule lr_schedule = LrSchedule::kConstant;
  WarmupConvention warmup_convention = WarmupConvention::kBilmod;  // bilmod | lambdalr (optim/lr_schedule.h)
  int64_t eval_every = 1;
  std::string init_from;
  int64_t threads = 0;  // 0: every core
  std::string log_file;
  bool no_progress = false;
  // Interventions from the grokking literature (docs/MODELS.md "Interventions and measures").
  GrokfastKind grokfast = GrokfastKind::kNone;
  double grokfast_alpha = 0.98;
  double grokfast_lamb = -1;  // -1: the filter's own default (ema 2, ma 5)
  int64_t grokfast_window = 100;
  bool orthograd = false;
  double init_scale = 1.0;  // Omnigrok: every parameter times alpha right after initialisation (optim/fixed_norm.h)
  bool fixed_norm = false;  // Omnigrok: the total L2 norm restored to its initial value after every step
  LossKind loss = LossKind::kCrossEntropy;
  LossPrecision loss_precision = LossPrecision::kFloat32;
  // Experiment tracking (trackio's store).
  std::string project = "bilinear-modular-arithmetic";
  std::string run_name;  // empty: trackio-style adjective-noun-N
  std::string group;
  std::string tracking_dir;
  bool no_track = false;

  uint64_t effective_data_seed() const { return data_seed < 0 ? seed : static_cast<uint64_t>(data_seed); }
  ModelSpec model_spec() const;
  OptimizerSettings optimizer_settings() const;
  Dataset make_data() const;  // the table and its split, by `split`; after validate() (it builds the P^2 table)
  GrokfastSettings grokfast_settings() const;
  LossSettings loss_settings() const;
  // Steps per epoch and in the whole run, for this split size.
  int64_t steps_per_epoch(int64_t n_train) const;

  // Every value in range and every combination consistent; a usage Status naming the flag otherwise.
  Status validate() const;
};

// --preset NAME: sets every field the preset names, except those in `given` (config keys given explicitly).
// "seed": the seed's defaults; "nanda2023": Nanda et al.'s transformer recipe; "zhong2023": Zhong et al.'s. A usage
// Status for an unknown name.
Status apply_preset(const std::string& name, const std::vector<std::string>& given, RunConfig* config);

// The settings that hold a name (--model bilinear), in the order they are checked, and their names in a config.
const std::vector<std::string>& named_settings();
// The setting `key` (one of named_settings()) set from its name: a name it does not know is a usage Status,
// "--model 'foo' is not known: use bilinear, factored, mlp, transformer or clock-pizza", and leaves the config as it was.
Status parse_named_setting(const std::string& key, const std::string& name, RunConfig* config);

// The names of the named settings, the other settings as they are.
nlohmann::json to_json(const RunConfig& config);
// Reads a config saved by to_json; missing keys keep their defaults. A key it does not know, or a value of the wrong
// JSON type, is a runtime Status; a name a named setting does not know is parse_named_setting's usage Status (an
// invalid value, as validate() reports the others), the first in named_settings() order, after every type is checked.
Status config_from_json(const nlohmann::json& json, RunConfig* config);

// A setting's flag and back: flag_name("mod_basis") is "mod-basis"; setting_name("--mod-basis") and
// setting_name("mod-basis") are "mod_basis".
std::string flag_name(const std::string& key);
std::string setting_name(const std::string& flag);

// The settings that define the model and its data: a resumed run may not change them.
const std::vector<std::string>& model_defining_settings();

}  // namespace bilmod
