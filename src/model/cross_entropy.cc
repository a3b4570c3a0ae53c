#include "model/cross_entropy.h"

// GCC 12 warns inside its own AVX-512 headers (their _mm512_undefined_* placeholders) wherever they are inlined
// (-Wmaybe-uninitialized is off for GCC in CMakeLists.txt; this one is its definite form).
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>

#include "model/kernels.h"
#include "model/vector_exp.h"
#include "util/simd_lanes.h"

namespace bilmod {

namespace {

// Rows handled together: their softmax sums are independent chains, interleaved so the adder is kept busy while
// each row's sum is still accumulated strictly in column order.
constexpr int64_t kRowBlock = 8;
constexpr int64_t kMaxClasses = 1024;  // (kRowBlock, P) scratch on the stack (32 KiB); larger P takes the plain path

// First index of the row's maximum (argmax, ties to the lowest index, as the sequential scan `row[c] > row[best]`).
// With a NaN in the row the sequential scan's answer depends on where the NaN sits: the caller then uses that scan.
inline bool argmax_no_nan(const float* row, int64_t P, int64_t* argmax) {
#ifdef BILMOD_VECTOR_EXP
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  __mmask16 nan = 0;
  int64_t c = 0;
  for (; c + 16 <= P; c += 16) {
    const __m512 x = _mm512_loadu_ps(row + c);
    nan |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    vmax = _mm512_max_ps(vmax, x);
  }
  float best = _mm512_reduce_max_ps(vmax);
  for (; c < P; ++c) {
    if (std::isnan(row[c])) return false;
    best = std::max(best, row[c]);
  }
  if (nan) return false;
  // The first index holding the maximum (it is exact: some element equals it; +0 and -0 compare equal, as in the
  // sequential scan), 16 at a time: a scalar search here took a quarter of the softmax's time.
  const __m512 vbest = _mm512_set1_ps(best);
  for (c = 0; c < P; c += 16) {
    const __mmask16 lanes = first_lanes(P - c);
    const __mmask16 hit = _mm512_mask_cmp_ps_mask(lanes, _mm512_maskz_loadu_ps(lanes, row + c), vbest, _CMP_EQ_OQ);
    if (hit) {
      *argmax = c + __builtin_ctz(hit);
      return true;
    }
  }
  return false;  // unreachable (best is one of the row's elements); the caller would fall back to the scan
#else
  int64_t best = 0;
  for (int64_t c = 1; c < P; ++c) {
    if (std::isnan(row[c])) return false;
    if (row[c] > row[best]) best = c;
  }
  if (std::isnan(row[0])) return false;
  *argmax = best;
  return true;
#endif
}

inline int64_t argmax_sequential(const float* row, int64_t P) {
  int64_t argmax = 0;
  for (int64_t c = 1; c < P; ++c)
    if (row[c] > row[argmax]) argmax = c;
  return argmax;
}

// out[c] = std::exp(row[c] - shift) for c in [0, P): the float subtraction, then the C library's expf (bitwise).
inline void exp_shifted(const float* row, float shift, int64_t P, float* out) {
  int64_t c = 0;
#ifdef BILMOD_VECTOR_EXP
  const __m512 vshift = _mm512_set1_ps(shift);
  for (; c + 16 <= P; c += 16) _mm512_storeu_ps(out + c, exp16(_mm512_sub_ps(_mm512_loadu_ps(row + c), vshift)));
  if (c < P) {
    const __mmask16 m = first_lanes(P - c);
    _mm512_mask_storeu_ps(out + c, m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + c), vshift)));
    c = P;
  }
#endif
  for (; c < P; ++c) out[c] = std::exp(row[c] - shift);
}

}  // namespace

void cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t mod_basis, float grad_scale,
                   float* dlogits, double* loss, uint8_t* correct) {
  const int64_t P = mod_basis;
  if (P > kMaxClasses) {
    // The plain per-row path (any P): the same operations, one row at a time.
#pragma omp parallel for schedule(static) if (n * P * 16 > kParallelWorkThreshold)
    for (int64_t e = 0; e < n; ++e) {
      const float* row = logits + e * P;
      const int64_t argmax = argmax_sequential(row, P);
      const float max_logit = row[argmax], label_logit = row[labels[e]];
      double sum = 0;
      for (int64_t c = 0; c < P; ++c) sum += static_cast<double>(std::exp(row[c] - max_logit));
      if (loss) loss[e] = std::log(sum) + static_cast<double>(max_logit) - static_cast<double>(label_logit);
      if (correct) correct[e] = argmax == labels[e];
      if (dlogits) {
        float* out = dlogits + e * P;
        const float inv_sum = static_cast<float>(1.0 / sum);
        for (int64_t c = 0; c < P; ++c) out[c] = std::exp(row[c] - max_logit) * inv_sum * grad_scale;
        out[labels[e]] -= grad_scale;
      }
    }
    return;
  }
  // Per row, exactly the plain path's values: exp(l - max) once per logit (kept for the gradient), the row's sum in
  // double in column order, loss = log(sum) + max - l_label; dlogits = exp * (1/sum) * scale, minus scale at the label.
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for schedule(static) if (n * P * 16 > kParallelWorkThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t e0 = blk * kRowBlock, rows = std::min(kRowBlock, n - e0);
    alignas(64) float exps[kRowBlock][kMaxClasses];  // (rows, P) exp(l - max) of this block
    float max_logit[kRowBlock];
    int64_t argmax[kRowBlock];
    for (int64_t j = 0; j < rows; ++j) {
      const float* row = logits + (e0 + j) * P;
      if (!argmax_no_nan(row, P, &argmax[j])) argmax[j] = argmax_sequential(row, P);
      max_logit[j] = row[argmax[j]];
      exp_shifted(row, max_logit[j], P, exps[j]);
    }
    double sum[kRowBlock] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (rows == kRowBlock) {
      for (int64_t c = 0; c < P; ++c)
        for (int64_t j = 0; j < kRowBlock; ++j) sum[j] += static_cast<double>(exps[j][c]);
    } else {
      for (int64_t j = 0; j < rows; ++j)
        for (int64_t c = 0; c < P; ++c) sum[j] += static_cast<double>(exps[j][c]);
    }
    for (int64_t j = 0; j < rows; ++j) {
      const int64_t e = e0 + j;
      const float label_logit = logits[e * P + labels[e]];
      if (loss) loss[e] = std::log(sum[j]) + static_cast<double>(max_logit[j]) - static_cast<double>(label_logit);
      if (correct) correct[e] = argmax[j] == labels[e];
      if (dlogits) {
        float* out = dlogits + e * P;
        const float inv_sum = static_cast<float>(1.0 / sum[j]);
        for (int64_t c = 0; c < P; ++c) out[c] = exps[j][c] * inv_sum * grad_scale;
        out[labels[e]] -= grad_scale;
      }
    }
  }
}

}  // namespace bilmod
