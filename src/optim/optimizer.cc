#include "optim/optimizer.h"

#include <cmath>

namespace bilmod {

std::optional<OptimizerKind> parse_optimizer_kind(const std::string& name) {
  if (name == "adamw") return OptimizerKind::kAdamW;
  if (name == "sgd") return OptimizerKind::kSgd;
  return std::nullopt;
}

std::string optimizer_kind_name(OptimizerKind kind) { return kind == OptimizerKind::kAdamW ? "adamw" : "sgd"; }

void OptimizerState::reset(const OptimizerSettings& settings, size_t n_params) {
  step = 0;
  exp_avg.assign(settings.kind == OptimizerKind::kAdamW ? n_params : 0, 0.0f);
  exp_avg_sq.assign(settings.kind == OptimizerKind::kAdamW ? n_params : 0, 0.0f);
  momentum_buffer.assign(settings.kind == OptimizerKind::kSgd && settings.momentum != 0.0 ? n_params : 0, 0.0f);
}

namespace {

// Elementwise work is split in fixed chunks across threads: each element's arithmetic is the same whatever
// the thread count.
constexpr int64_t kElementwiseParallelThreshold = 1 << 15;

void adamw_step(const OptimizerSettings& s, double lr, float* __restrict p, const float* __restrict g,
                float* __restrict m, float* __restrict v, int64_t t, size_t n) {
  // Scalars as torch computes them: Python floats (double), cast to float where they meet a float tensor.
  const float decay = static_cast<float>(1.0 - lr * s.weight_decay);
  const float beta1 = static_cast<float>(s.beta1), one_minus_beta1 = static_cast<float>(1.0 - s.beta1);
  const float beta2 = static_cast<float>(s.beta2), one_minus_beta2 = static_cast<float>(1.0 - s.beta2);
  const double bias_correction1 = 1.0 - std::pow(s.beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(s.beta2, static_cast<double>(t));
  const float neg_step_size = static_cast<float>(-(lr / bias_correction1));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float eps = static_cast<float>(s.eps);
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for simd schedule(static) if (count > kElementwiseParallelThreshold)
  for (int64_t i = 0; i < count; ++i) {
    const float gi = g[i];
    const float pi = p[i] * decay;                                    // p.mul_(1 - lr*wd)
    const float mi = m[i] * beta1 + gi * one_minus_beta1;             // exp_avg.mul_(b1).add_(g, alpha=1-b1)
    const float vi = v[i] * beta2 + one_minus_beta2 * gi * gi;        // exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
    const float denom = std::sqrt(vi) / bias_correction2_sqrt + eps;  // (v.sqrt() / sqrt(bc2)).add_(eps)
    p[i] = pi + neg_step_size * (mi / denom);                         // p.addcdiv_(m, denom, value=-lr/bc1)
    m[i] = mi;
    v[i] = vi;
  }
}

void sgd_step(const OptimizerSettings& s, double lr, float* __restrict p, const float* __restrict g,
              float* __restrict buf, int64_t t, size_t n) {
  const float wd = static_cast<float>(s.weight_decay), momentum = static_cast<float>(s.momentum);
  const float neg_lr = static_cast<float>(-lr);
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for simd schedule(static) if (count > kElementwiseParallelThreshold)
  for (int64_t i = 0; i < count; ++i) {
    float d = g[i];
    if (wd != 0.0f) d = d + wd * p[i];  // d_p = d_p.add(p, alpha=wd)
    if (buf) {                          // first step: buf = d_p; then buf.mul_(momentum).add_(d_p) (dampening 0)
      buf[i] = t == 1 ? d : buf[i] * momentum + d;
      d = buf[i];
    }
    p[i] = p[i] + neg_lr * d;  // p.add_(d_p, alpha=-lr)
  }
}

}  // namespace

void optimizer_step(const OptimizerSettings& settings, double lr, float* params, const float* grads,
                    OptimizerState* state, size_t n) {
  const int64_t t = ++state->step;
  if (settings.kind == OptimizerKind::kAdamW)
    adamw_step(settings, lr, params, grads, state->exp_avg.data(), state->exp_avg_sq.data(), t, n);
  else
    sgd_step(settings, lr, params, grads, state->momentum_buffer.empty() ? nullptr : state->momentum_buffer.data(), t,
             n);
}

}  // namespace bilmod
