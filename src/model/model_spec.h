// Which network, how wide, and where each of its parameters lives in bilmod's one flat buffer.
//
// Storage rule: every weight matrix is stored with PyTorch's first (output) axis moved last, so the column
// a one-hot input selects is one contiguous row:
//   bilinear.weight  PyTorch (H, P, P)  ->  stored (P*P, H)   row a*P+b = W[:, a, b]
//   left/right/hidden.weight (H, 2P)    ->  stored (2P, H)    row a = L[:, a], row P+b = L[:, P+b]
//   output.weight    PyTorch (P, H)     ->  stored (H, P)     row k = U[:, k]
// Biases are vectors and stored as they are. Checkpoints convert to PyTorch's order (to_torch_order).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace bilmod {

enum class ModelKind { kBilinear, kFactored, kMlp, kTransformer, kClockPizza };
enum class Activation { kRelu, kQuad, kNone };
enum class TransformerMlp { kRelu, kGelu, kBilinear, kTanh };  // --mlp of the transformers

std::optional<ModelKind> parse_model_kind(const std::string& name);
std::string model_kind_name(ModelKind kind);
std::optional<Activation> parse_activation(const std::string& name);
std::string activation_name(Activation act);
std::optional<TransformerMlp> parse_transformer_mlp(const std::string& name);
std::string transformer_mlp_name(TransformerMlp mlp);

struct ModelSpec {
  ModelKind kind = ModelKind::kBilinear;
  int64_t mod_basis = 113;                    // P: input symbols and output classes
  int64_t hidden_dim = 100;                   // H (P for bilinear without output projection)
  Activation activation = Activation::kRelu;  // mlp: relu | quad; bilinear: relu | none
  // bilinear only. The seed's model has both; its upstream's has neither bias, and by default no output layer:
  // nn.Bilinear(P, P, P, bias=False) straight to the logits.
  bool bias = true;               // bilinear.bias and output.bias
  bool output_projection = true;  // false: logits = bilinear(a, b), no activation, no output layer (H = P)
  // transformer only (model/transformer.h): d_head = d_model / num_heads
  int64_t d_model = 128, num_heads = 4, d_mlp = 512;
  TransformerMlp mlp = TransformerMlp::kRelu;
  // clock-pizza only (model/clock_pizza.cc): blocks, the attention rate alpha, an '=' token after (a, b), b's tokens
  // shifted by P (a vocabulary of 2P).
  int64_t num_layers = 1;
  double attention_rate = 1.0;
  bool eqn_sign = false, diff_vocab = false;
  // Logits per example: P, or more where the model's vocabulary holds more (the transformer's '=').
  int64_t num_logits() const;
};

// "bilinear model with P = 113, H = 100", naming the bilinear variants ("without biases", "direct: no output layer").
std::string describe_model(const ModelSpec& spec);

struct ParameterInfo {
  std::string name;                  // PyTorch state_dict key, e.g. "bilinear.weight"
  std::vector<int64_t> torch_shape;  // its shape in PyTorch
  size_t offset = 0;                 // first element in the flat buffer
  size_t size = 0;                   // element count
  bool output_axis_last = false;     // stored with torch's first axis moved last (weight matrices)
  float init_bound = 0;              // PyTorch default init: U(-bound, bound)
  float init_std = 0;                // > 0: N(0, init_std^2) instead (the transformer's randn / sqrt(fan))
};

// The parameters of a model, in PyTorch's registration order, packed into one buffer.
struct ParameterLayout {
  std::vector<ParameterInfo> parameters;
  size_t total = 0;
  const ParameterInfo* find(const std::string& name) const;
};

// The model's parameters (model/model.h add_parameters).
ParameterLayout make_parameter_layout(const ModelSpec& spec);

// A model's parameter appended to a layout: PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and
// for a weight matrix (output_axis_last) the storage rule above; or N(0, std^2) in PyTorch's order (std 0: zeros).
void add_uniform_parameter(ParameterLayout* layout, std::string name, std::vector<int64_t> shape, bool output_axis_last,
                           double fan_in);
void add_normal_parameter(ParameterLayout* layout, std::string name, std::vector<int64_t> shape, double std);

// Convert one parameter between bilmod's stored order and PyTorch's row-major order.
void to_torch_order(const ParameterInfo& info, const float* stored, float* torch_order);
void from_torch_order(const ParameterInfo& info, const float* torch_order, float* stored);

// PyTorch's default initialisation bounds with bilmod's counter-based stream (seed, parameter index):
// element i in PyTorch order is U(-bound, bound) from draw i.
void init_parameters(const ModelSpec& spec, const ParameterLayout& layout, uint64_t seed, float* params);

}  // namespace bilmod
