// Small dense kernels with a fixed order of accumulation. Every output element is computed by one thread
// in one fixed sequence of operations, so results are bitwise identical for any thread count and any
// split of the work. Vector speed comes from the layout (contiguous rows, independent accumulators) and fused
// multiply-adds, never from reassociating sums (no -ffast-math).
#pragma once
#include <cmath>
#include <cstdint>

namespace bilmod {

// y = fma(alpha, x, y): alpha*x + y rounded once, as the register-tiled matmuls accumulate (model/output_layer.cc)
inline void axpy(float* __restrict y, float alpha, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(alpha, x[i], y[i]);
}

// y += x
inline void add_into(float* __restrict y, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// Work below this many multiply-adds runs on the calling thread: a parallel region costs microseconds.
constexpr int64_t kParallelWorkThreshold = 1 << 16;

}  // namespace bilmod
