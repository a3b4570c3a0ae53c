#include "model/loss.h"

#include <cmath>

#include "model/cross_entropy.h"
#include "model/kernels.h"

namespace bilmod {

std::optional<LossKind> parse_loss_kind(const std::string& name) {
  if (name == "cross_entropy") return LossKind::kCrossEntropy;
  if (name == "stablemax") return LossKind::kStableMax;
  if (name == "mse") return LossKind::kMse;
  return std::nullopt;
}

std::string loss_kind_name(LossKind kind) {
  switch (kind) {
    case LossKind::kCrossEntropy:
      return "cross_entropy";
    case LossKind::kStableMax:
      return "stablemax";
    case LossKind::kMse:
      return "mse";
  }
  return "";
}

std::optional<LossPrecision> parse_loss_precision(const std::string& name) {
  if (name == "float32") return LossPrecision::kFloat32;
  if (name == "float64") return LossPrecision::kFloat64;
  return std::nullopt;
}

std::string loss_precision_name(LossPrecision precision) {
  return precision == LossPrecision::kFloat32 ? "float32" : "float64";
}

namespace {

// argmax with ties to the lowest index, as cross_entropy's sequential scan.
int64_t argmax_of(const float* row, int64_t P) {
  int64_t best = 0;
  for (int64_t c = 1; c < P; ++c)
    if (row[c] > row[best]) best = c;
  return best;
}

// One row of cross_entropy_float64: loss and (scale * (softmax - onehot)) in double.
double cross_entropy_f64_row(const float* row, int32_t label, int64_t P, double scale, float* out) {
  double max = row[0];
  for (int64_t c = 1; c < P; ++c) max = std::fmax(max, static_cast<double>(row[c]));
  double sum = 0;
  for (int64_t c = 0; c < P; ++c) sum += std::exp(static_cast<double>(row[c]) - max);
  const double log_sum = std::log(sum), label_logit = row[label];  // (read before out, which may alias row)
  if (out) {
    for (int64_t c = 0; c < P; ++c) {
      const double p = std::exp(static_cast<double>(row[c]) - max - log_sum);  // exp(log_softmax)
      out[c] = static_cast<float>(scale * (p - (c == label ? 1.0 : 0.0)));
    }
  }
  return -(label_logit - max - log_sum);
}

// One row of stablemax_cross_entropy. d/dx of -log(s_y / S): s'(x_c) / S - [c == y] s'(x_y) / s_y, with s'(x) = 1 for
// x >= 0 and s(x)^2 for x < 0.
double stablemax_row(const float* row, int32_t label, int64_t P, double scale, float* out) {
  double sum = 0;
  for (int64_t c = 0; c < P; ++c) sum += stablemax_s(row[c]);
  const double s_label = stablemax_s(row[label]);
  if (out) {
    for (int64_t c = 0; c < P; ++c) {
      const double x = row[c], s = stablemax_s(x);
      const double ds = x < 0 ? s * s : 1.0;
      double d = ds / sum;
      if (c == label) d -= ds / s_label;
      out[c] = static_cast<float>(scale * d);
    }
  }
  return -std::log(s_label / sum);
}

// One row of mse: sum_c (x_c - y_c)^2 / P; the gradient 2 (x_c - y_c) * scale / P.
template <typename Real>
double mse_row(const float* row, int32_t label, int64_t P, double scale, float* out) {
  double sum = 0;
  const Real factor = static_cast<Real>(2.0 * scale / static_cast<double>(P));
  for (int64_t c = 0; c < P; ++c) {
    const Real diff = static_cast<Real>(row[c]) - static_cast<Real>(c == label ? 1 : 0);
    sum += static_cast<double>(diff) * static_cast<double>(diff);
    if (out) out[c] = static_cast<float>(diff * factor);
  }
  return sum / static_cast<double>(P);
}

}  // namespace

void compute_loss(const LossSettings& settings, const float* logits, const int32_t* labels, int64_t n,
                  int64_t mod_basis, float grad_scale, float* dlogits, double* loss, uint8_t* correct) {
  if (settings.kind == LossKind::kCrossEntropy && !settings.float64) {
    cross_entropy(logits, labels, n, mod_basis, grad_scale, dlogits, loss, correct);
    return;
  }
  const int64_t P = mod_basis;
  const double scale = grad_scale;
#pragma omp parallel for schedule(static) if (n * P * 16 > kParallelWorkThreshold)
  for (int64_t e = 0; e < n; ++e) {
    const float* row = logits + e * P;
    // argmax first: out may alias row.
    if (correct) correct[e] = argmax_of(row, P) == labels[e];
    float* out = dlogits ? dlogits + e * P : nullptr;
    double l = 0;
    switch (settings.kind) {
      case LossKind::kCrossEntropy:
        l = cross_entropy_f64_row(row, labels[e], P, scale, out);
        break;
      case LossKind::kStableMax:
        l = stablemax_row(row, labels[e], P, scale, out);
        break;
      case LossKind::kMse:
        l = settings.float64 ? mse_row<double>(row, labels[e], P, scale, out)
                             : mse_row<float>(row, labels[e], P, scale, out);
        break;
    }
    if (loss) loss[e] = l;
  }
}

bool softmax_collapsed(const float* logits, int64_t mod_basis) {
  // The float sum 0 + e_0 + e_1 + ... (e_c = exp(x_c - max), e_argmax = 1, the others in [0, 1]) grows monotonically,
  // so it ends at exactly 1 iff the partial sum t before the argmax rounds away in t + 1 (t <= 2^-24, ties to even)
  // and every later term does (e_c <= 2^-24). Most rows are decided by comparing x_c - max with two bounds around
  // ln 2^-24 = -16.64 (expf is monotone): > -16 (e_c > 1.1e-7) ends it; < -30 makes every earlier term so small that
  // P of them sum below 2^-25. The exps are taken only between the bounds, and for the terms before the argmax when
  // one of those lies above -30: then t is summed exactly as the plain loop does.
  const int64_t P = mod_basis;
  const int64_t top = argmax_of(logits, P);
  const float max = logits[top];
  if (!std::isfinite(max)) return false;  // exp(inf - inf) or a NaN row: the sum is NaN
  constexpr float kTiny = 0x1p-24f;
  bool sum_before = false;
  for (int64_t c = 0; c < P; ++c) {
    if (c == top) continue;
    const float d = logits[c] - max;
    if (d > -16.0f) return false;                                // e_c > 2^-24 (or a tie with the maximum)
    if (!(d < -17.0f) && !(std::exp(d) <= kTiny)) return false;  // between the bounds, or NaN
    if (c < top && !(d < -30.0f)) sum_before = true;
  }
  if (!sum_before) return true;
  float t = 0.0f;
  for (int64_t c = 0; c < top; ++c) t += std::exp(logits[c] - max);
  return t + 1.0f == 1.0f;
}

}  // namespace bilmod
