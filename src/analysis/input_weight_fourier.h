// How concentrated in frequency a model's input weights are (docs/MODELS.md "Analysis"): the norm of their
// projection on each frequency k = 1..floor(P/2), taken over each input block, and its Gini coefficient.
#pragma once
#include <vector>

#include "analysis/model_weights.h"

namespace bilmod {

// (K,) entry k-1 = sqrt of the energy at frequency k summed over every unit and input block:
//   bilinear: each W_k along a (every column b) and along b (every row a);
//   factored: L and R, each over its a block (columns 0..P-1) and its b block (P..2P-1); mlp: hidden.weight likewise.
std::vector<double> input_frequency_norms(const ModelWeights& w);

}  // namespace bilmod
