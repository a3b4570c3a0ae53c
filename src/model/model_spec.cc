#include "model/model_spec.h"

#include <cmath>
#include <vector>

#include "model/model.h"
#include "util/rng.h"

namespace bilmod {

std::optional<Activation> parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "quad") return Activation::kQuad;
  if (name == "none") return Activation::kNone;
  return std::nullopt;
}

std::string activation_name(Activation act) {
  switch (act) {
    case Activation::kRelu:
      return "relu";
    case Activation::kQuad:
      return "quad";
    case Activation::kNone:
      return "none";
  }
  return "?";
}

std::string describe_model(const ModelSpec& spec) { return model_of(spec).describe(spec); }

int64_t ModelSpec::num_logits() const { return model_of(*this).num_logits(*this); }

std::optional<TransformerMlp> parse_transformer_mlp(const std::string& name) {
  if (name == "relu") return TransformerMlp::kRelu;
  if (name == "gelu") return TransformerMlp::kGelu;
  if (name == "bilinear") return TransformerMlp::kBilinear;
  if (name == "tanh") return TransformerMlp::kTanh;
  return std::nullopt;
}

std::string transformer_mlp_name(TransformerMlp mlp) {
  switch (mlp) {
    case TransformerMlp::kRelu:
      return "relu";
    case TransformerMlp::kGelu:
      return "gelu";
    case TransformerMlp::kBilinear:
      return "bilinear";
    case TransformerMlp::kTanh:
      return "tanh";
  }
  return "?";
}

const ParameterInfo* ParameterLayout::find(const std::string& name) const {
  for (const auto& info : parameters)
    if (info.name == name) return &info;
  return nullptr;
}

ParameterLayout make_parameter_layout(const ModelSpec& spec) {
  ParameterLayout layout;
  model_of(spec).add_parameters(spec, &layout);
  return layout;
}

namespace {
void append(ParameterLayout* layout, ParameterInfo info) {
  info.size = 1;
  for (int64_t d : info.torch_shape) info.size *= static_cast<size_t>(d);
  info.offset = layout->total;
  layout->total += info.size;
  layout->parameters.push_back(std::move(info));
}
}  // namespace

void add_uniform_parameter(ParameterLayout* layout, std::string name, std::vector<int64_t> shape, bool output_axis_last,
                           double fan_in) {
  ParameterInfo info;
  info.name = std::move(name);
  info.torch_shape = std::move(shape);
  info.output_axis_last = output_axis_last;
  info.init_bound = static_cast<float>(1.0 / std::sqrt(fan_in));
  append(layout, std::move(info));
}

void add_normal_parameter(ParameterLayout* layout, std::string name, std::vector<int64_t> shape, double std) {
  ParameterInfo info;
  info.name = std::move(name);
  info.torch_shape = std::move(shape);
  info.init_std = static_cast<float>(std);
  append(layout, std::move(info));
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
