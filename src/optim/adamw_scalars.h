// AdamW's numbers per run and per step, as torch computes them: Python floats (double), cast to float where they
// meet a float tensor.
#pragma once
#include <cmath>
#include <cstdint>

#include "optim/optimizer.h"

namespace bilmod {

struct AdamWConstants {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
};

struct AdamWStepScalars {
  float decay = 1;          // 1 - lr * wd
  float neg_step_size = 0;  // -lr / bias_correction1
  float bc2_sqrt = 1;       // sqrt(bias_correction2), the float torch divides by
  double inv_bc2_sqrt = 1;  // 1 / bc2_sqrt in double: the fast path's exact multiply (docs/NUMERICS.md)
};

inline AdamWConstants adamw_constants(const OptimizerSettings& s) {
  return {static_cast<float>(s.beta1), static_cast<float>(1.0 - s.beta1), static_cast<float>(s.beta2),
          static_cast<float>(1.0 - s.beta2), static_cast<float>(s.eps)};
}

// Step t (1-based) at learning rate lr.
inline AdamWStepScalars adamw_scalars(const OptimizerSettings& s, double lr, int64_t t) {
  const double bias_correction1 = 1.0 - std::pow(s.beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(s.beta2, static_cast<double>(t));
  AdamWStepScalars out;
  out.decay = static_cast<float>(1.0 - lr * s.weight_decay);
  out.neg_step_size = static_cast<float>(-(lr / bias_correction1));
  out.bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  out.inv_bc2_sqrt = 1.0 / static_cast<double>(out.bc2_sqrt);
  return out;
}

}  // namespace bilmod
