// A model's parameters in PyTorch's order and docs/MODELS.md's notation, in double precision: what every analysis
// reads. bilmod stores weights with PyTorch's first axis moved last (model/model_spec.h); this undoes that once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "model/model_spec.h"

namespace bilmod {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

class InteractionForm;

struct ModelWeights {
  ModelSpec spec;
  const InteractionForm* form = nullptr;  // its hidden units' quadratic forms (analysis/interaction_form.h), or none
  // The input embeddings (model/model.h input_embeddings), in torch order: factored L = left.weight, R = right.weight;
  // mlp L = hidden.weight, R empty. Columns 0..P-1 see a, P..2P-1 see b.
  RowMatrix left;    // (H, 2P)
  RowMatrix right;   // (H, 2P)
  RowMatrix output;  // U = output.weight (P, H); the identity without an output layer
  // An attention model's token embeddings: W_E's columns of the P number tokens (d_model, P).
  RowMatrix token_embedding;
  // What a form reads beyond those (analysis/<form>_form.cc): bilinear's W[k] (P x P, rows a, columns b) for every
  // unit k; bilinear.bias or hidden.bias (H); output.bias (P).
  std::vector<RowMatrix> unit_weight;  // (H) of (P, P)
  Eigen::VectorXd input_bias;          // (H,)
  Eigen::VectorXd output_bias;         // (P,) c

  int64_t mod_basis() const { return spec.mod_basis; }
  int64_t hidden_dim() const { return spec.hidden_dim; }
};

// params: (layout.total,) in bilmod's stored order.
ModelWeights model_weights(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params);

// One parameter in PyTorch's row-major order, widened to double; and views of such values.
std::vector<double> torch_order_values(const ParameterLayout& layout, const std::vector<float>& params,
                                       const std::string& name);
RowMatrix as_matrix(const std::vector<double>& v, int64_t rows, int64_t cols);
Eigen::VectorXd as_vector(const std::vector<double>& v);

}  // namespace bilmod
