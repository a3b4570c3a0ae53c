#include "optim/torch_formula.h"

#include "optim/adamw_scalars.h"

namespace bilmod {

namespace {
// Elementwise work split in fixed chunks across threads: each element's arithmetic is the same at any thread count.
constexpr int64_t kParallelThreshold = 1 << 15;
}  // namespace

void adamw_torch_step(const OptimizerSettings& settings, double lr, int64_t t, float* p, const float* g, float* m,
                      float* v, size_t n) {
  const AdamWConstants c = adamw_constants(settings);
  const AdamWStepScalars s = adamw_scalars(settings, lr, t);
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float pi = p[i] * s.decay;                           // param.mul_(1 - lr * weight_decay)
    const float mi = m[i] * c.beta1 + gi * c.one_minus_beta1;  // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    const float vi =
        v[i] * c.beta2 + c.one_minus_beta2 * gi * gi;        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
    const float denom = std::sqrt(vi) / s.bc2_sqrt + c.eps;  // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    p[i] = pi + s.neg_step_size * (mi / denom);              // param.addcdiv_(exp_avg, denom, value=-step_size)
    m[i] = mi;
    v[i] = vi;
  }
}

void sgd_torch_step(const OptimizerSettings& settings, double lr, int64_t t, float* __restrict p,
                    const float* __restrict g, float* __restrict buf, size_t n) {
  const float wd = static_cast<float>(settings.weight_decay), momentum = static_cast<float>(settings.momentum);
  const float neg_lr = static_cast<float>(-lr);
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for simd schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) {
    float d = g[i];
    if (wd != 0.0f) d = d + wd * p[i];  // d_p = d_p.add(p, alpha=weight_decay)
    if (buf) {                          // first step: buf = d_p; then buf.mul_(momentum).add_(d_p)
      buf[i] = t == 1 ? d : buf[i] * momentum + d;
      d = buf[i];
    }
    p[i] = p[i] + neg_lr * d;  // p.add_(d_p, alpha=-lr)
  }
}

}  // namespace bilmod
