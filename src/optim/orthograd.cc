#include "optim/orthograd.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bilmod {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;
constexpr int64_t kBlock = 4096;

// Sums of f(i) over [0, n) in double: fixed blocks summed in index order, then the block sums in block order, so
// the value is the same for any thread count (threads take whole blocks).
template <typename F>
double fixed_order_sum(int64_t n, F f) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> sums(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
  for (int64_t b = 0; b < blocks; ++b) {
    double s = 0;
    for (int64_t i = b * kBlock, end = std::min(n, (b + 1) * kBlock); i < end; ++i) s += f(i);
    sums[static_cast<size_t>(b)] = s;
  }
  double total = 0;
  for (const double s : sums) total += s;
  return total;
}
}  // namespace

void orthograd_tensor(const float* w, float* g, size_t n) {
  const auto count = static_cast<int64_t>(n);
  auto d = [](float x) { return static_cast<double>(x); };
  const double wg = fixed_order_sum(count, [&](int64_t i) { return d(w[i]) * d(g[i]); });
  const double ww = fixed_order_sum(count, [&](int64_t i) { return d(w[i]) * d(w[i]); });
  const double gg = fixed_order_sum(count, [&](int64_t i) { return d(g[i]) * d(g[i]); });
  // torch's dot and norm return floats: the double sums rounded once (closer to the exact value than a float sum).
  const float proj = static_cast<float>(wg) / (static_cast<float>(ww) + 1e-30f);
#pragma omp parallel for simd schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) g[i] = g[i] - proj * w[i];
  const double oo = fixed_order_sum(count, [&](int64_t i) { return d(g[i]) * d(g[i]); });
  const float scale = static_cast<float>(std::sqrt(gg)) / (static_cast<float>(std::sqrt(oo)) + 1e-30f);
#pragma omp parallel for simd schedule(static) if (count > kParallelThreshold)
  for (int64_t i = 0; i < count; ++i) g[i] = g[i] * scale;
}

}  // namespace bilmod
