// The Fourier structure of the logits over all pairs (docs/MODELS.md "Analysis", Nanda et al. 2023 "Progress
// measures for grokking"): each class's logits over the P*P pairs projected on cos(w_k s) and sin(w_k s),
// s = a + b (for `sub`, s = a - b); the key frequencies; restricted and excluded loss.
#pragma once
#include <cstdint>
#include <vector>

#include "analysis/model_weights.h"
#include "data/dataset.h"
#include "data/operation.h"

namespace bilmod {

// The logits of every pair a*P + b, including pairs the operation leaves out (the model is defined there):
// (P*P, P) rows pair index, columns class.
RowMatrix all_pair_logits(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params);

// The Fourier measures describe add and sub only (for mul/div the right basis lives on the multiplicative group).
bool fourier_measures_apply(Operation op);

constexpr double kKeyFrequencyVariance = 0.90;

struct LogitFourier {
  std::vector<double> share;             // (K,) entry k-1: frequency k's share of the logits' variance
  std::vector<int64_t> key_frequencies;  // the fewest k, strongest first, explaining >= 90 % of what all k explain
  double key_share = 0;                  // the key frequencies' total share of the logits' variance
  double all_share = 0;                  // every frequency's total share (the rest is not a function of s)
};

// Variance: every class's logits centred over the pairs, summed over classes. The 90 % is of the variance the
// waves in s explain at all (all_share), not of the total: a factored model's logits also hold terms in a alone,
// b alone and a - b (its Q(c)'s diagonal blocks and the rest of its cross block), which no frequency of s can
// explain; on a model that has just generalised they are about a third of the variance and fade with weight decay.
LogitFourier logit_fourier(const RowMatrix& logits, int64_t mod_basis, Operation op);

// The logits' components along the given frequencies' waves (P*P, P), each class separately.
RowMatrix frequency_components(const RowMatrix& logits, int64_t mod_basis, Operation op,
                               const std::vector<int64_t>& frequencies);

// Mean cross-entropy (stable log-softmax, double) of logits rows `pairs` against the dataset's labels.
double mean_cross_entropy(const RowMatrix& logits, const Dataset& data, const std::vector<int64_t>& pairs);

struct ProgressLosses {
  double restricted_loss = 0;  // logits = class mean + key components, on every defined pair
  double excluded_loss = 0;    // logits - key components, on the train pairs
};
ProgressLosses progress_losses(const RowMatrix& logits, const Dataset& data, const std::vector<int64_t>& key_frequencies);

}  // namespace bilmod
