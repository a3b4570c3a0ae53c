#include "analysis/logit_fourier.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/fourier.h"
#include "model/network.h"

namespace bilmod {

RowMatrix all_pair_logits(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params) {
  const int64_t P = spec.mod_basis, n = P * P;
  std::vector<int64_t> pairs(static_cast<size_t>(n));
  std::iota(pairs.begin(), pairs.end(), 0);
  RowMatrix logits(n, P);
  BatchActivations act;
  constexpr int64_t kChunk = 1024;  // activations of a chunk stay in cache
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t count = std::min(kChunk, n - begin);
    network_forward(spec, layout, params.data(), pairs.data() + begin, count, &act);
    const int64_t stride = spec.num_logits();  // the transformer's P + 1: its '=' logit is left out, as the paper does
    for (int64_t e = 0; e < count; ++e)
      for (int64_t c = 0; c < P; ++c) logits(begin + e, c) = act.logits[static_cast<size_t>(e * stride + c)];
  }
  return logits;
}

bool fourier_measures_apply(Operation op) { return op == Operation::kAdd || op == Operation::kSub; }

namespace {
// s = a + b or a - b (mod P) of every pair index.
std::vector<int64_t> wave_argument(int64_t P, Operation op) {
  std::vector<int64_t> s(static_cast<size_t>(P * P));
  for (int64_t a = 0; a < P; ++a)
    for (int64_t b = 0; b < P; ++b) s[a * P + b] = (op == Operation::kSub ? a - b + P : a + b) % P;
  return s;
}

// Per class, the projections of its logits on cos(w_k s) and sin(w_k s): each wave is constant on the pairs
// sharing s, so sum the logits per s first ((P, P): rows s, columns class) and project that.
struct WaveCoefficients {
  RowMatrix cos_coef, sin_coef;  // (K, P) rows frequency k-1, columns class
  std::vector<int64_t> s;        // (P*P,)
};

WaveCoefficients wave_coefficients(const RowMatrix& logits, int64_t P, Operation op) {
  WaveCoefficients w;
  w.s = wave_argument(P, op);
  RowMatrix per_s = RowMatrix::Zero(P, P);
  for (int64_t pair = 0; pair < P * P; ++pair) per_s.row(w.s[pair]) += logits.row(pair);
  const FourierBasis basis(P);
  w.cos_coef = basis.cos_waves * per_s;
  w.sin_coef = basis.sin_waves * per_s;
  return w;
}

// Squared norm of a wave over the P*P pairs: P * P/2, or P * P for the cos wave at k = P/2.
double wave_norm2(int64_t P, int64_t k) {
  const double p = static_cast<double>(P);
  return 2 * k == P ? p * p : 0.5 * p * p;
}
}  // namespace

LogitFourier logit_fourier(const RowMatrix& logits, int64_t P, Operation op) {
  const int64_t K = frequency_count(P);
  const WaveCoefficients w = wave_coefficients(logits, P, op);
  const Eigen::RowVectorXd mean = logits.colwise().mean();  // (P,) per class
  const double variance = (logits.rowwise() - mean).squaredNorm();
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

RowMatrix frequency_components(const RowMatrix& logits, int64_t P, Operation op, const std::vector<int64_t>& frequencies) {
  const WaveCoefficients w = wave_coefficients(logits, P, op);
  RowMatrix components = RowMatrix::Zero(P * P, P);
  // Per s (P, P): the component is sum_k (alpha_k cos(w_k s) + beta_k sin(w_k s)) / |wave|^2 for every class.
  RowMatrix per_s = RowMatrix::Zero(P, P);
  const FourierBasis basis(P);
  for (int64_t k : frequencies) {
    const double norm2 = wave_norm2(P, k);
    per_s += basis.cos_waves.row(k - 1).transpose() * w.cos_coef.row(k - 1) / norm2;
    if (2 * k != P) per_s += basis.sin_waves.row(k - 1).transpose() * w.sin_coef.row(k - 1) / norm2;
  }
  for (int64_t pair = 0; pair < P * P; ++pair) components.row(pair) = per_s.row(w.s[pair]);
  return components;
}

double mean_cross_entropy(const RowMatrix& logits, const Dataset& data, const std::vector<int64_t>& pairs) {
  double total = 0;
  for (int64_t pair : pairs) {
    const auto row = logits.row(pair);
    const double top = row.maxCoeff();
    const double log_sum = top + std::log((row.array() - top).exp().sum());
    total += log_sum - row[data.label[pair]];
  }
  return pairs.empty() ? 0.0 : total / static_cast<double>(pairs.size());
}

ProgressLosses progress_losses(const RowMatrix& logits, const Dataset& data, const std::vector<int64_t>& key_frequencies) {
  const int64_t P = data.mod_basis;
  const RowMatrix key = frequency_components(logits, P, data.operation, key_frequencies);
  const Eigen::RowVectorXd mean = logits.colwise().mean();
  const RowMatrix restricted = key.rowwise() + mean;
  const RowMatrix excluded = logits - key;
  ProgressLosses out;
  out.restricted_loss = mean_cross_entropy(restricted, data, defined_pairs(P, data.operation));
  out.excluded_loss = mean_cross_entropy(excluded, data, data.train_indices);
  return out;
}

}  // namespace bilmod
