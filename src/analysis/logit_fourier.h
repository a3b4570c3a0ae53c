// The Fourier structure of the logits over all pairs (docs/MODELS.md "Analysis", Nanda et al. 2023 "Progress
// measures for grokking"): each class's logits over the P*P pairs projected on cos(w_k s) and sin(w_k s),
// s = a + b (for `sub`, s = a - b); the key frequencies; restricted and excluded loss.
//
// Memory: the (P*P, P) logit table is never held. Every wave is constant on the pairs sharing s, so one pass over
// the pairs in blocks keeps only their per-s sums (P, P), the class means and the variance; the key components are
// then a (P, P) table (rows s), restricted loss needs only its P distinct rows, and excluded loss streams the train
// pairs again in blocks. Peak memory grows as P^2 plus the model.
#pragma once
#include <cstdint>
#include <vector>

#include "analysis/model_weights.h"
#include "data/dataset.h"
#include "data/operation.h"
#include "model/logit_blocks.h"

namespace bilmod {

// The Fourier measures describe add and sub only (for mul/div the right basis lives on the multiplicative group).
bool fourier_measures_apply(Operation op);

constexpr double kKeyFrequencyVariance = 0.90;

// What one pass over every pair a*P + b (including pairs the operation leaves out: the model is defined there)
// keeps of the logits.
struct LogitSums {
  int64_t mod_basis = 0;
  Operation operation = Operation::kAdd;
  RowMatrix per_s;          // (P, P) rows s, columns class: the logits summed over the pairs sharing s
  Eigen::RowVectorXd mean;  // (P,) every class's mean over the P*P pairs
  double variance = 0;      // sum over classes and pairs of (logit - class mean)^2
};
LogitSums logit_sums(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                     Operation op);

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
LogitFourier logit_fourier(const LogitSums& sums);

// The logits' components along the given frequencies' waves, each class separately: a function of s alone, so
// (P, P) rows s, columns class.
RowMatrix frequency_components(const LogitSums& sums, const std::vector<int64_t>& frequencies);

struct ProgressLosses {
  double restricted_loss = 0;  // logits = class mean + key components, on every defined pair
  double excluded_loss = 0;    // logits - key components, on the train pairs
};
// Mean cross-entropy (stable log-softmax, double); excluded loss runs the forward pass over the train pairs again.
ProgressLosses progress_losses(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                               const LogitSums& sums, const Dataset& data, const std::vector<int64_t>& key_frequencies);

}  // namespace bilmod
