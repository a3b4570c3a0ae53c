#include "model/model_spec.h"

#include <cmath>
#include <vector>

#include "util/rng.h"

namespace bilmod {

std::optional<ModelKind> parse_model_kind(const std::string& name) {
  if (name == "bilinear") return ModelKind::kBilinear;
  if (name == "factored") return ModelKind::kFactored;
  if (name == "mlp") return ModelKind::kMlp;
  if (name == "transformer") return ModelKind::kTransformer;
  return std::nullopt;
}

std::string model_kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::kBilinear: return "bilinear";
    case ModelKind::kFactored: return "factored";
    case ModelKind::kMlp: return "mlp";
    case ModelKind::kTransformer: return "transformer";
  }
  return "?";
}

std::optional<Activation> parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "quad") return Activation::kQuad;
  if (name == "none") return Activation::kNone;
  return std::nullopt;
}

std::string activation_name(Activation act) {
  switch (act) {
    case Activation::kRelu: return "relu";
    case Activation::kQuad: return "quad";
    case Activation::kNone: return "none";
  }
  return "?";
}

std::string describe_model(const ModelSpec& spec) {
  std::string text = model_kind_name(spec.kind) + " model with P = " + std::to_string(spec.mod_basis);
  if (spec.kind == ModelKind::kTransformer)
    return text + ", d_model = " + std::to_string(spec.d_model) + ", " + std::to_string(spec.num_heads) +
           " heads, d_mlp = " + std::to_string(spec.d_mlp) + ", " + transformer_mlp_name(spec.mlp) + " MLP";
  if (spec.kind == ModelKind::kBilinear && !spec.output_projection) text += " and no output layer";
  else text += ", H = " + std::to_string(spec.hidden_dim);
  if (spec.kind == ModelKind::kBilinear && !spec.bias) text += ", without biases";
  return text;
}

std::optional<TransformerMlp> parse_transformer_mlp(const std::string& name) {
  if (name == "relu") return TransformerMlp::kRelu;
  if (name == "gelu") return TransformerMlp::kGelu;
  if (name == "bilinear") return TransformerMlp::kBilinear;
  return std::nullopt;
}

std::string transformer_mlp_name(TransformerMlp mlp) {
  switch (mlp) {
    case TransformerMlp::kRelu: return "relu";
    case TransformerMlp::kGelu: return "gelu";
    case TransformerMlp::kBilinear: return "bilinear";
  }
  return "?";
}

const ParameterInfo* ParameterLayout::find(const std::string& name) const {
  for (const auto& info : parameters)
    if (info.name == name) return &info;
  return nullptr;
}

ParameterLayout make_parameter_layout(const ModelSpec& spec) {
  const int64_t p = spec.mod_basis, h = spec.hidden_dim;
  ParameterLayout layout;
  auto add = [&layout](std::string name, std::vector<int64_t> shape, bool weight, double fan_in) {
    ParameterInfo info;
    info.name = std::move(name);
    info.torch_shape = std::move(shape);
    info.size = 1;
    for (int64_t d : info.torch_shape) info.size *= static_cast<size_t>(d);
    info.offset = layout.total;
    info.output_axis_last = weight;
    info.init_bound = static_cast<float>(1.0 / std::sqrt(fan_in));
    layout.total += info.size;
    layout.parameters.push_back(std::move(info));
  };
  // The paper's module: torch order and shapes as they are; randn / sqrt(fan) or zeros.
  auto add_normal = [&layout](std::string name, std::vector<int64_t> shape, double std) {
    ParameterInfo info;
    info.name = std::move(name);
    info.torch_shape = std::move(shape);
    info.size = 1;
    for (int64_t d : info.torch_shape) info.size *= static_cast<size_t>(d);
    info.offset = layout.total;
    info.init_std = static_cast<float>(std);
    layout.total += info.size;
    layout.parameters.push_back(std::move(info));
  };
  switch (spec.kind) {
    case ModelKind::kBilinear: {  // nn.Bilinear(P, P, H): bound 1/sqrt(in1_features); without projection H = P
      const int64_t width = spec.output_projection ? h : p;
      add("bilinear.weight", {width, p, p}, true, static_cast<double>(p));
      if (spec.bias) add("bilinear.bias", {width}, false, static_cast<double>(p));
      if (spec.output_projection) {
        add("output.weight", {p, h}, true, static_cast<double>(h));
        if (spec.bias) add("output.bias", {p}, false, static_cast<double>(h));
      }
      break;
    }
    case ModelKind::kFactored:  // two bias-free nn.Linear(2P, H) and a bias-free nn.Linear(H, P)
      add("left.weight", {h, 2 * p}, true, 2.0 * static_cast<double>(p));
      add("right.weight", {h, 2 * p}, true, 2.0 * static_cast<double>(p));
      add("output.weight", {p, h}, true, static_cast<double>(h));
      break;
    case ModelKind::kMlp:
      add("hidden.weight", {h, 2 * p}, true, 2.0 * static_cast<double>(p));
      add("hidden.bias", {h}, false, 2.0 * static_cast<double>(p));
      add("output.weight", {p, h}, true, static_cast<double>(h));
      add("output.bias", {p}, false, static_cast<double>(h));
      break;
    case ModelKind::kTransformer: {
      const int64_t d = spec.d_model, heads = spec.num_heads, dh = d / heads, m = spec.d_mlp, v = p + 1;
      const double sd = 1.0 / std::sqrt(static_cast<double>(d));
      add_normal("embed.W_E", {d, v}, sd);
      add_normal("pos_embed.W_pos", {3, d}, sd);
      add_normal("blocks.0.attn.W_K", {heads, dh, d}, sd);
      add_normal("blocks.0.attn.W_Q", {heads, dh, d}, sd);
      add_normal("blocks.0.attn.W_V", {heads, dh, d}, sd);
      add_normal("blocks.0.attn.W_O", {d, heads * dh}, sd);
      add_normal("blocks.0.mlp.W_in", {m, d}, sd);
      add_normal("blocks.0.mlp.b_in", {m}, 0);
      if (spec.mlp == TransformerMlp::kBilinear) {
        add_normal("blocks.0.mlp.W_in2", {m, d}, sd);
        add_normal("blocks.0.mlp.b_in2", {m}, 0);
      }
      add_normal("blocks.0.mlp.W_out", {d, m}, sd);
      add_normal("blocks.0.mlp.b_out", {d}, 0);
      add_normal("unembed.W_U", {d, v}, 1.0 / std::sqrt(static_cast<double>(v)));
      break;
    }
  }
  return layout;
}

// A torch tensor of shape (d0, rest...) viewed as (d0, R); stored as (R, d0).
void to_torch_order(const ParameterInfo& info, const float* stored, float* torch_order) {
  if (!info.output_axis_last) {
    std::copy(stored, stored + info.size, torch_order);
    return;
  }
  const size_t rows = static_cast<size_t>(info.torch_shape[0]), rest = info.size / rows;
  for (size_t r = 0; r < rest; ++r)
    for (size_t o = 0; o < rows; ++o) torch_order[o * rest + r] = stored[r * rows + o];
}

void from_torch_order(const ParameterInfo& info, const float* torch_order, float* stored) {
  if (!info.output_axis_last) {
    std::copy(torch_order, torch_order + info.size, stored);
    return;
  }
  const size_t rows = static_cast<size_t>(info.torch_shape[0]), rest = info.size / rows;
  for (size_t r = 0; r < rest; ++r)
    for (size_t o = 0; o < rows; ++o) stored[r * rows + o] = torch_order[o * rest + r];
}

void init_parameters(const ModelSpec& spec, const ParameterLayout& layout, uint64_t seed, float* params) {
  std::vector<float> torch_order;
  for (size_t index = 0; index < layout.parameters.size(); ++index) {
    const ParameterInfo& info = layout.parameters[index];
    const uint64_t key = stream_key(seed, kInitStream, index);
    torch_order.resize(info.size);
    if (info.init_std > 0) {
      // Box-Muller in double from two 53-bit uniforms per element (draws 2i, 2i + 1), then scaled and rounded once.
      for (size_t i = 0; i < info.size; ++i) {
        const double u1 = (static_cast<double>(random_u64(key, 2 * i) >> 11) + 1.0) * 0x1p-53;  // (0, 1]
        const double u2 = static_cast<double>(random_u64(key, 2 * i + 1) >> 11) * 0x1p-53;
        torch_order[i] = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2) *
                                            static_cast<double>(info.init_std));
      }
    } else {
      for (size_t i = 0; i < info.size; ++i)
        torch_order[i] = (2.0f * random_unit_float(key, i) - 1.0f) * info.init_bound;
    }
    from_torch_order(info, torch_order.data(), params + info.offset);
  }
}

}  // namespace bilmod
