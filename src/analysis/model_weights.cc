#include "analysis/model_weights.h"

namespace bilmod {

namespace {
// One parameter in PyTorch's row-major order, widened to double.
std::vector<double> torch_values(const ParameterLayout& layout, const std::vector<float>& params, const char* name) {
  const ParameterInfo* info = layout.find(name);
  std::vector<float> torch_order(info->size);
  to_torch_order(*info, params.data() + info->offset, torch_order.data());
  return std::vector<double>(torch_order.begin(), torch_order.end());
}

RowMatrix as_matrix(const std::vector<double>& v, int64_t rows, int64_t cols) {
  return Eigen::Map<const RowMatrix>(v.data(), rows, cols);
}

Eigen::VectorXd as_vector(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}
}  // namespace

ModelWeights model_weights(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params) {
  const int64_t P = spec.mod_basis, H = spec.hidden_dim;
  ModelWeights w;
  w.spec = spec;
  if (spec.kind == ModelKind::kTransformer) {  // W_E's token columns (d_model, P); the rest: analysis/transformer_analysis.h
    const std::vector<double> embed = torch_values(layout, params, "embed.W_E");  // (d_model, P + 1)
    w.left.resize(spec.d_model, P);
    for (int64_t k = 0; k < spec.d_model; ++k)
      for (int64_t x = 0; x < P; ++x) w.left(k, x) = embed[static_cast<size_t>(k * (P + 1) + x)];
    return w;
  }
  // The upstream's direct model has no output layer: its logits are the bilinear layer's outputs, U = I (H = P).
  w.output = layout.find("output.weight") ? as_matrix(torch_values(layout, params, "output.weight"), P, H)
                                          : RowMatrix(RowMatrix::Identity(P, P));
  switch (spec.kind) {
    case ModelKind::kBilinear: {
      const std::vector<double> weight = torch_values(layout, params, "bilinear.weight");  // (H, P, P)
      w.unit_weight.reserve(static_cast<size_t>(H));
      for (int64_t k = 0; k < H; ++k)
        w.unit_weight.push_back(Eigen::Map<const RowMatrix>(weight.data() + k * P * P, P, P));
      // Bias-free models (the upstream's) read as zero biases.
      w.input_bias = layout.find("bilinear.bias") ? as_vector(torch_values(layout, params, "bilinear.bias"))
                                                  : Eigen::VectorXd(Eigen::VectorXd::Zero(H));
      w.output_bias = layout.find("output.bias") ? as_vector(torch_values(layout, params, "output.bias"))
                                                 : Eigen::VectorXd(Eigen::VectorXd::Zero(P));
      break;
    }
    case ModelKind::kFactored:
      w.left = as_matrix(torch_values(layout, params, "left.weight"), H, 2 * P);
      w.right = as_matrix(torch_values(layout, params, "right.weight"), H, 2 * P);
      break;
    case ModelKind::kMlp:
      w.left = as_matrix(torch_values(layout, params, "hidden.weight"), H, 2 * P);
      w.input_bias = as_vector(torch_values(layout, params, "hidden.bias"));
      w.output_bias = as_vector(torch_values(layout, params, "output.bias"));
      break;
    case ModelKind::kTransformer:
      break;
  }
  return w;
}

}  // namespace bilmod
