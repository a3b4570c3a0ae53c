#include "analysis/model_weights.h"

#include "analysis/interaction_form.h"
#include "analysis/transformer_analysis.h"
#include "model/model.h"

namespace bilmod {

std::vector<double> torch_order_values(const ParameterLayout& layout, const std::vector<float>& params,
                                       const std::string& name) {
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

ModelWeights model_weights(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params) {
  const int64_t P = spec.mod_basis, H = spec.hidden_dim;
  const Model& model = model_of(spec);
  ModelWeights w;
  w.spec = spec;
  if (model.has_attention()) {  // the rest: analysis/transformer_analysis.h
    w.token_embedding = token_embedding(spec, layout, params);
    return w;
  }
  // The upstream's direct model has no output layer: its logits are the bilinear layer's outputs, U = I (H = P).
  w.output = layout.find("output.weight") ? as_matrix(torch_order_values(layout, params, "output.weight"), P, H)
                                          : RowMatrix(RowMatrix::Identity(P, P));
  const std::vector<const ParameterInfo*> embeddings = model.input_embeddings(layout);
  if (!embeddings.empty()) w.left = as_matrix(torch_order_values(layout, params, embeddings[0]->name), H, 2 * P);
  if (embeddings.size() > 1) w.right = as_matrix(torch_order_values(layout, params, embeddings[1]->name), H, 2 * P);
  w.form = interaction_form(spec);
  if (w.form) w.form->read(layout, params, &w);
  return w;
}

}  // namespace bilmod
