#include "optim/fixed_norm.h"

#include <cstdint>

namespace bilmod {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;

// Elementwise, so the same bits for any thread count.
void multiply(float* params, size_t n, float factor) {
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for simd schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) params[i] = params[i] * factor;
}
}  // namespace

void scale_parameters(float* params, size_t n, double alpha) { multiply(params, n, static_cast<float>(alpha)); }

void restore_norm(float* params, size_t n, double norm, double target) {
  if (!(norm > 0)) return;  // all zero: no direction to rescale along (the notebook would write NaN)
  multiply(params, n, static_cast<float>(target / norm));
}

}  // namespace bilmod
