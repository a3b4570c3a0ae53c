// What Nanda et al. 2023 measure on their transformer, beyond the logit measures every model shares:
// the embedding's norm per Fourier frequency, each MLP neuron's best frequency and the share of its variance that
// frequency explains (the neuron clusters), the '=' position's attention over a, b and '='; and, for --mlp bilinear,
// each neuron's interaction matrix over the residual stream (W_in row x W_in2 row) and its eigendecomposition.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/model_weights.h"
#include "model/model_spec.h"

namespace bilmod {

struct BilinearNeuron {
  // Q_j = (u v^T + v u^T) / 2 with u = W_in[j], v = W_in2[j]: rank 2, eigenvalues (u.v +- |u||v|) / 2 with
  // eigenvectors u/|u| +- v/|v|. Each eigenvector read on the tokens (W_E[:, :P]^T e) has a dominant frequency.
  double eigenvalue_plus = 0, eigenvalue_minus = 0;
  int64_t frequency_plus = 0, frequency_minus = 0;
  double share_plus = 0, share_minus = 0;
};

struct TransformerAnalysis {
  std::vector<double> embed_frequency_norms;  // (floor(P/2)) sqrt of W_E[:, :P]'s energy at each frequency
  std::vector<int64_t> neuron_frequency;      // (d_mlp) the frequency whose terms explain most of the neuron's variance
  std::vector<double> neuron_share;           // (d_mlp) that share (0 for a neuron that never varies)
  std::vector<std::array<double, 3>> attention;  // (heads) mean attention of '=' over (a, b, '=') on every pair
  std::vector<BilinearNeuron> bilinear;          // (d_mlp) --mlp bilinear only
};

// params in bilmod's stored order (the transformer's is PyTorch's own).
TransformerAnalysis analyze_transformer(const ModelSpec& spec, const ParameterLayout& layout,
                                        const std::vector<float>& params);

// W_E's columns of the P number tokens (d_model, P): each row a P-vector, one per residual direction.
RowMatrix token_embedding(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params);

nlohmann::json to_json(const TransformerAnalysis& t);
std::string format_transformer_analysis(const TransformerAnalysis& t);

}  // namespace bilmod
