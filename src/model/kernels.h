// Small dense kernels with a fixed order of accumulation. Every output element is computed by one thread
// in one fixed sequence of operations, so results are bitwise identical for any thread count and any
// split of the work. Vector speed comes from the layout (contiguous rows, independent accumulators) and fused
// multiply-adds, never from reassociating sums (no -ffast-math).
#pragma once
#include <cmath>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace bilmod {

// y = fma(alpha, x, y): alpha*x + y rounded once, as the register-tiled matmuls accumulate (model/output_layer.cc)
inline void axpy(float* __restrict y, float alpha, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(alpha, x[i], y[i]);
}

// y += x
inline void add_into(float* __restrict y, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// [first, last): the calling thread's contiguous share of `total` items inside a parallel region (all of them outside
// one). The same thread gets the same share in every region of a run, so data it owns stays in its core's cache.
struct Share {
  int64_t first, last;
};
inline Share my_share(int64_t total) {
#ifdef _OPENMP
  const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
#else
  const int64_t threads = 1, thread = 0;
#endif
  return {total * thread / threads, total * (thread + 1) / threads};
}

// Work below this many multiply-adds runs on the calling thread: a parallel region costs microseconds.
constexpr int64_t kParallelWorkThreshold = 1 << 16;

// Runs body(block) for blocks [0, count): on every thread when the work (multiply-adds) is large and no parallel
// region is open. The blocks are the caller's, fixed whatever the thread count, so each is computed alike on any.
template <typename F>
void for_blocks(int64_t count, int64_t work, F body) {
#ifdef _OPENMP
  const bool parallel = count > 1 && work > kParallelWorkThreshold && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
#endif
  for (int64_t b = 0; b < count; ++b) body(b);
}

}  // namespace bilmod
