// A model's parameters in PyTorch's order and docs/MODELS.md's notation, in double precision: what every analysis
// reads. bilmod stores weights with PyTorch's first axis moved last (model/model_spec.h); this undoes that once.
#pragma once
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "model/model_spec.h"

namespace bilmod {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct ModelWeights {
  ModelSpec spec;
  // bilinear: W[k] (P x P, rows a, columns b) for every hidden unit k; bilinear.bias (H).
  std::vector<RowMatrix> unit_weight;  // (H) of (P, P)
  Eigen::VectorXd input_bias;          // (H,) bilinear.bias | hidden.bias; empty for factored
  // factored: L = left.weight, R = right.weight; mlp: L = hidden.weight, R empty. Columns 0..P-1 see a, P..2P-1 see b.
  RowMatrix left;                      // (H, 2P)
  RowMatrix right;                     // (H, 2P)
  RowMatrix output;                    // U = output.weight (P, H)
  Eigen::VectorXd output_bias;         // (P,) c; empty for factored

  int64_t mod_basis() const { return spec.mod_basis; }
  int64_t hidden_dim() const { return spec.hidden_dim; }
};

// params: (layout.total,) in bilmod's stored order.
ModelWeights model_weights(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params);

}  // namespace bilmod
