#include "checkpoint/clock_pizza_config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/read_file.h"

namespace bilmod {

namespace {

// The paper's configs are a few hundred bytes.
constexpr uintmax_t kMaxConfigBytes = 1 << 20;

// The operation of train-main.py's `funcs`, "lambda x: (x[0]+x[1])%59" and its kin, for the modulus C.
bool operation_of(std::string funcs, int64_t C, Operation* op) {
  funcs.erase(std::remove_if(funcs.begin(), funcs.end(), [](unsigned char c) { return std::isspace(c); }), funcs.end());
  const std::string mod = ")%" + std::to_string(C);
  for (const auto& [sign, kind] : {std::pair{'+', Operation::kAdd}, {'-', Operation::kSub}, {'*', Operation::kMul}})
    if (funcs == std::string("lambdax:(x[0]") + sign + "x[1]" + mod) {
      *op = kind;
      return true;
    }
  return false;
}

}  // namespace

std::string clock_pizza_config_path(const std::string& model_path) {
  const std::filesystem::path p(model_path);
  const std::string name = p.filename().string();
  if (name.size() <= 9 || name.rfind("model_", 0) != 0 || name.substr(name.size() - 3) != ".pt") return "";
  const std::filesystem::path config = p.parent_path() / ("config_" + name.substr(6, name.size() - 9) + ".json");
  std::error_code ec;
  return std::filesystem::is_regular_file(config, ec) ? config.string() : "";
}

Status read_clock_pizza_config(const std::string& json_path, RunConfig* out, std::vector<std::string>* notes) {
  auto bad = [&](const std::string& what) { return Status::runtime(json_path + ": " + what); };
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(json_path, ec);
  if (ec) return bad("cannot be read (" + ec.message() + ")");
  if (size > kMaxConfigBytes) return bad("is " + std::to_string(size) + " bytes, more than any run's config");
  std::string text;
  BILMOD_TRY(read_file_text(json_path, "config file", &text));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad("is not a JSON object (the paper's config_<id>.json)");

  // Each key as the paper's code reads it, with its default where train-main.py has one.
  auto integer = [&](const char* key, int64_t fallback, int64_t lo, int64_t hi, int64_t* v) -> Status {
    if (!j.contains(key)) {
      if (fallback < lo) return bad("has no '" + std::string(key) + "'");
      *v = fallback;
      return Status::ok();
    }
    const nlohmann::json& x = j.at(key);
    if (x.is_boolean()) {
      *v = x.get<bool>() ? 1 : 0;
    } else if (x.is_number_integer()) {
      *v = x.get<int64_t>();
    } else {
      return bad("'" + std::string(key) + "' is " + x.dump() + ", not an integer");
    }
    if (*v < lo || *v > hi)
      return bad("'" + std::string(key) + "' is " + std::to_string(*v) + ", outside [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]");
    return Status::ok();
  };
  auto number = [&](const char* key, double fallback, double lo, double hi, double* v) -> Status {
    if (!j.contains(key)) {
      if (!(fallback >= lo)) return bad("has no '" + std::string(key) + "'");
      *v = fallback;
      return Status::ok();
    }
    const nlohmann::json& x = j.at(key);
    if (!x.is_number()) return bad("'" + std::string(key) + "' is " + x.dump() + ", not a number");
    *v = x.get<double>();
    if (!(*v >= lo && *v <= hi))
      return bad("'" + std::string(key) + "' is " + x.dump() + ", outside [" + fmt::format("{:g}", lo) + ", " +
                 fmt::format("{:g}", hi) + "]");
    return Status::ok();
  };
  auto text_of = [&](const char* key, const std::string& fallback, std::string* v) -> Status {
    if (!j.contains(key)) {
      if (fallback.empty()) return bad("has no '" + std::string(key) + "'");
      *v = fallback;
      return Status::ok();
    }
    if (!j.at(key).is_string()) return bad("'" + std::string(key) + "' is " + j.at(key).dump() + ", not a string");
    *v = j.at(key).get<std::string>();
    return Status::ok();
  };

  if (j.contains("use_linear") && j.at("use_linear") != false && j.at("use_linear") != 0)
    return bad("is a Linearformer's (use_linear), which bilmod does not have");
  int64_t C = 0, heads = 0, d_model = 0, layers = 0, d_head = 0, diff_vocab = 0, eqn_sign = 0, epochs = 0, batch = 0;
  double alpha = 0, frac = 0, lr = 0, wd = 0;
  std::string act, funcs;
  BILMOD_TRY(integer("C", -1, 2, 4096, &C));
  BILMOD_TRY(integer("n_heads", -1, 1, 65536, &heads));
  BILMOD_TRY(integer("d_model", -1, 1, 65536, &d_model));
  BILMOD_TRY(integer("n_layers", 1, 1, 64, &layers));
  BILMOD_TRY(integer("d_head", d_model / heads, 1, 65536, &d_head));
  if (d_head * heads != d_model)
    return bad("d_head " + std::to_string(d_head) + " x n_heads " + std::to_string(heads) + " is not d_model " +
               std::to_string(d_model) + " (bilmod's attention has d_head = d_model / heads)");
  BILMOD_TRY(integer("diff_vocab", 0, 0, 1, &diff_vocab));
  BILMOD_TRY(integer("eqn_sign", 0, 0, 1, &eqn_sign));
  BILMOD_TRY(number("attn_coeff", -1, 0, 1, &alpha));
  BILMOD_TRY(number("frac", -1, 0, 1, &frac));
  BILMOD_TRY(number("lr", 1e-3, 0, 1e6, &lr));
  BILMOD_TRY(number("weight_decay", 1e-4, 0, 1e6, &wd));
  BILMOD_TRY(integer("epoch", 10000, 0, int64_t{1} << 40, &epochs));
  BILMOD_TRY(integer("batch_size", C * C, 1, int64_t{1} << 40, &batch));
  BILMOD_TRY(text_of("act_fn", "relu", &act));
  BILMOD_TRY(text_of("funcs", "lambda x: (x[0]+x[1])%" + std::to_string(C), &funcs));
  std::string act_lower = act;
  for (char& ch : act_lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::optional<TransformerMlp> mlp = parse_transformer_mlp(act_lower);
  if (!mlp || *mlp == TransformerMlp::kBilinear) return bad("act_fn '" + act + "' is not ReLU, GeLU or Tanh");
  Operation op = Operation::kAdd;
  if (!operation_of(funcs, C, &op))
    return bad("funcs '" + funcs +
               "' is not (x[0] + x[1]), (x[0] - x[1]) or (x[0] * x[1]) mod C = " + std::to_string(C));

  RunConfig c;
  c.model = ModelKind::kClockPizza;
  c.mod_basis = C;
  c.operation = op;
  c.d_model = d_model;
  c.num_heads = heads;
  c.d_mlp = 4 * d_model;
  c.num_layers = layers;
  c.attention_rate = alpha;
  c.eqn_sign = eqn_sign != 0;
  c.diff_vocab = diff_vocab != 0;
  c.mlp = *mlp;
  // The paper's training loop: AdamW with betas (0.9, 0.98), LambdaLR's 10-step warm-up, float64 cross-entropy.
  c.train_frac = frac;
  c.learning_rate = lr;
  c.weight_decay = wd;
  c.beta1 = 0.9;
  c.beta2 = 0.98;
  c.warmup_steps = 10;
  c.warmup_convention = WarmupConvention::kLambdaLr;
  c.loss_precision = LossPrecision::kFloat64;
  c.epochs = epochs;
  const int64_t n_train = static_cast<int64_t>(frac * static_cast<double>(C * C));
  c.full_batch = batch >= n_train;
  if (!c.full_batch) c.batch_size = batch;
  c.split = SplitKind::kTorch;
  if (Status s = c.validate(); !s) return bad("describes an invalid run: " + s.message());
  notes->push_back("the Clock-and-Pizza run of " + json_path + ": its random_split was drawn unseeded and not saved");
  *out = std::move(c);
  return Status::ok();
}

}  // namespace bilmod
