#include "model/output_layer.h"

#include <algorithm>

#include "model/kernels.h"

namespace bilmod {

void output_forward(float* logits, const float* hidden, const float* weight_t, const float* bias, int64_t n,
                    int64_t hidden_dim, int64_t mod_basis) {
  const int64_t H = hidden_dim, P = mod_basis;
  // Per example: logits row = sum over k of hidden[k] * row k of weight_t, accumulated k = 0..H-1, then + bias.
#pragma omp parallel for schedule(static) if (n * H * P > kParallelWorkThreshold)
  for (int64_t e = 0; e < n; ++e) {
    float* out = logits + e * P;
    const float* h = hidden + e * H;
    std::fill(out, out + P, 0.0f);
    for (int64_t k = 0; k < H; ++k) axpy(out, h[k], weight_t + k * P, P);
    if (bias) add_into(out, bias, P);
  }
}

void output_backward(float* dhidden, float* dweight_t, float* dbias, const float* dlogits, const float* hidden,
                     const float* weight_t, int64_t n, int64_t hidden_dim, int64_t mod_basis) {
  const int64_t H = hidden_dim, P = mod_basis;
  const bool parallel = n * H * P > kParallelWorkThreshold;
#pragma omp parallel if (parallel)
  {
    // dweight_t row k accumulates over examples in order e = 0..n-1; rows are split across threads.
#pragma omp for schedule(static) nowait
    for (int64_t k = 0; k < H; ++k) {
      float* row = dweight_t + k * P;
      for (int64_t e = 0; e < n; ++e) axpy(row, hidden[e * H + k], dlogits + e * P, P);
    }
    // dhidden[e, k] = dlogits[e, :] . weight_t[k, :]
#pragma omp for schedule(static) nowait
    for (int64_t e = 0; e < n; ++e)
      for (int64_t k = 0; k < H; ++k) dhidden[e * H + k] = dot_fixed_order(dlogits + e * P, weight_t + k * P, P);
#pragma omp single nowait
    if (dbias)
      for (int64_t e = 0; e < n; ++e) add_into(dbias, dlogits + e * P, P);
  }
}

}  // namespace bilmod
