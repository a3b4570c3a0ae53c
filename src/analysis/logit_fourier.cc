#include "analysis/logit_fourier.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/fourier.h"

namespace bilmod {

bool fourier_measures_apply(Operation op) { return op == Operation::kAdd || op == Operation::kSub; }

namespace {
// s = a + b or a - b (mod P) of a pair index.
int64_t wave_argument(int64_t pair, int64_t P, Operation op) {
  const int64_t a = pair / P, b = pair % P;
  return (op == Operation::kSub ? a - b + P : a + b) % P;
}

// Squared norm of a wave over the P*P pairs: P * P/2, or P * P for the cos wave at k = P/2.
double wave_norm2(int64_t P, int64_t k) {
  const double p = static_cast<double>(P);
  return 2 * k == P ? p * p : 0.5 * p * p;
}

// Log-sum-exp of a row minus its entry at `label`: the row's cross-entropy.
double row_cross_entropy(const Eigen::Ref<const Eigen::RowVectorXd>& row, int64_t label) {
  const double top = row.maxCoeff();
  const double log_sum = top + std::log((row.array() - top).exp().sum());
  return log_sum - row[label];
}
}  // namespace

LogitSums logit_sums(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                     Operation op) {
  const int64_t P = spec.mod_basis, n = P * P;
  LogitSums sums;
  sums.mod_basis = P;
  sums.operation = op;
  sums.per_s = RowMatrix::Zero(P, P);
  std::vector<int64_t> pairs(static_cast<size_t>(n));
  std::iota(pairs.begin(), pairs.end(), 0);
  // Per class: the running sum, and the centred sum of squares combined block by block (Chan, Golub and LeVeque),
  // which stays accurate where a raw sum of squares would cancel.
  Eigen::VectorXd total = Eigen::VectorXd::Zero(P), mean = Eigen::VectorXd::Zero(P), m2 = Eigen::VectorXd::Zero(P);
  Eigen::VectorXd block_sum(P), block_m2(P);
  double seen = 0;
  for_each_logit_block(spec, layout, params, pairs, [&](int64_t first, int64_t count, const float* logits) {
    block_sum.setZero();
    for (int64_t i = 0; i < count; ++i) {
      const float* row = logits + i * P;
      double* per_s = sums.per_s.row(wave_argument(first + i, P, op)).data();
      for (int64_t c = 0; c < P; ++c) {
        const double x = row[c];
        per_s[c] += x;
        block_sum[c] += x;
      }
    }
    const double m = static_cast<double>(count);
    block_m2.setZero();
    for (int64_t i = 0; i < count; ++i)
      for (int64_t c = 0; c < P; ++c) {
        const double d = static_cast<double>(logits[i * P + c]) - block_sum[c] / m;
        block_m2[c] += d * d;
      }
    const double after = seen + m;
    for (int64_t c = 0; c < P; ++c) {
      const double delta = block_sum[c] / m - mean[c];
      m2[c] += block_m2[c] + delta * delta * seen * m / after;
      mean[c] += delta * m / after;
      total[c] += block_sum[c];
    }
    seen = after;
  });
  sums.mean = (total / static_cast<double>(n)).transpose();
  sums.variance = m2.sum();
  return sums;
}

namespace {
// Per class, the projections of its logits on cos(w_k s) and sin(w_k s): (K, P) rows frequency k-1, columns class.
struct WaveCoefficients {
  RowMatrix cos_coef, sin_coef;
};

WaveCoefficients wave_coefficients(const LogitSums& sums, const FourierBasis& basis) {
  return {basis.cos_waves * sums.per_s, basis.sin_waves * sums.per_s};
}
}  // namespace

LogitFourier logit_fourier(const LogitSums& sums) {
  const int64_t P = sums.mod_basis, K = frequency_count(P);
  const FourierBasis basis(P);
  const WaveCoefficients w = wave_coefficients(sums, basis);
  const double variance = sums.variance;
  LogitFourier f;
  f.share.assign(static_cast<size_t>(K), 0.0);
  for (int64_t k = 1; k <= K; ++k) {
    const bool nyquist = 2 * k == P;
    const double energy = w.cos_coef.row(k - 1).squaredNorm() + (nyquist ? 0.0 : w.sin_coef.row(k - 1).squaredNorm());
    f.share[k - 1] = variance > 0 ? energy / wave_norm2(P, k) / variance : 0.0;
    f.all_share += f.share[k - 1];
  }
  std::vector<int64_t> order(static_cast<size_t>(K));
  std::iota(order.begin(), order.end(), 1);
  std::stable_sort(order.begin(), order.end(), [&f](int64_t i, int64_t j) { return f.share[i - 1] > f.share[j - 1]; });
  double total = 0;
  std::vector<int64_t> chosen;
  if (!(f.all_share > 1e-12)) return f;  // constant logits: nothing to explain
  for (int64_t k : order) {
    chosen.push_back(k);
    total += f.share[k - 1];
    if (total >= kKeyFrequencyVariance * f.all_share) {
      f.key_frequencies = chosen;
      f.key_share = total;
      break;
    }
  }
  return f;
}

RowMatrix frequency_components(const LogitSums& sums, const std::vector<int64_t>& frequencies) {
  const int64_t P = sums.mod_basis;
  const FourierBasis basis(P);
  const WaveCoefficients w = wave_coefficients(sums, basis);
  // Per s: the component is sum_k (alpha_k cos(w_k s) + beta_k sin(w_k s)) / |wave|^2 for every class.
  RowMatrix per_s = RowMatrix::Zero(P, P);
  for (int64_t k : frequencies) {
    const double norm2 = wave_norm2(P, k);
    per_s += basis.cos_waves.row(k - 1).transpose() * w.cos_coef.row(k - 1) / norm2;
    if (2 * k != P) per_s += basis.sin_waves.row(k - 1).transpose() * w.sin_coef.row(k - 1) / norm2;
  }
  return per_s;
}

ProgressLosses progress_losses(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                               const LogitSums& sums, const Dataset& data,
                               const std::vector<int64_t>& key_frequencies) {
  const int64_t P = data.mod_basis;
  const Operation op = data.operation;
  const RowMatrix key = frequency_components(sums, key_frequencies);  // (P, P) rows s
  ProgressLosses out;
  // Restricted logits (class mean + key components) depend on s alone: P distinct rows.
  const RowMatrix restricted = key.rowwise() + sums.mean;
  const std::vector<int64_t> defined = defined_pairs(P, op);
  double total = 0;
  for (int64_t pair : defined) total += row_cross_entropy(restricted.row(wave_argument(pair, P, op)), data.label[pair]);
  out.restricted_loss = defined.empty() ? 0.0 : total / static_cast<double>(defined.size());
  // Excluded logits (logits - key components) on the train pairs, a block at a time, summed in split order.
  total = 0;
  Eigen::RowVectorXd row(P);
  for_each_logit_block(spec, layout, params, data.train_indices,
                       [&](int64_t first, int64_t count, const float* logits) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t pair = data.train_indices[static_cast<size_t>(first + i)];
      const auto key_row = key.row(wave_argument(pair, P, op));
      for (int64_t c = 0; c < P; ++c) row[c] = static_cast<double>(logits[i * P + c]) - key_row[c];
      total += row_cross_entropy(row, data.label[pair]);
    }
  });
  out.excluded_loss = data.train_indices.empty() ? 0.0 : total / static_cast<double>(data.train_indices.size());
  return out;
}

}  // namespace bilmod
