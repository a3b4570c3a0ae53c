#include "model/subnormal_grid.h"

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace bilmod {

namespace {
constexpr double kUnit = 0x1p-149;    // u: the float grid below 2^-125
constexpr double kPerUnit = 0x1p149;  // 1 / u
constexpr double kEdge = 0x1p24 - 2;  // |A| + |y| below this: the exact sum stays below 2^24 u = 2^-125
}  // namespace

void dhidden_on_grid(const float* dlogits_row, const float* weights, const double* weights_as_double, int64_t P,
                     int64_t S, float* dh) {
  thread_local std::vector<double> grid;     // (S,) A: the running sums in units of 2^-149, while on the grid
  thread_local std::vector<float> left;      // (S,) the running sums as floats, once they have left it
  thread_local std::vector<uint8_t> off;     // (S,) 1 once a sum has left the grid
  grid.assign(static_cast<size_t>(S), 0.0);  // the chain starts at +0
  left.assign(static_cast<size_t>(S), 0.0f);
  off.assign(static_cast<size_t>(S), 0);
  double* __restrict a = grid.data();
  float* __restrict f32 = left.data();
  uint8_t* __restrict gone = off.data();
#if defined(__AVX512F__)
  thread_local std::vector<__mmask8> off_chunks;  // ((S + 7) / 8,) the vector loop's lanes off the grid
  off_chunks.assign(static_cast<size_t>((S + 7) / 8), 0);
  __mmask8* __restrict off_chunk = off_chunks.data();
#endif
  for (int64_t c = 0; c < P; ++c) {
    const float d32 = dlogits_row[c];
    const double d = static_cast<double>(d32) * kPerUnit;  // d / u, exact (sign of zero kept)
    const double* __restrict w = weights_as_double + c * S;
    const float* __restrict w32 = weights + c * S;
    int64_t k = 0;
#if defined(__AVX512F__)
    // The same steps as the loop below, 8 at a time (GCC leaves that loop scalar).
    const __m512d dv = _mm512_set1_pd(d), halfv = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0);
    const __m512d sign = _mm512_set1_pd(-0.0), edge = _mm512_set1_pd(kEdge), unit = _mm512_set1_pd(kUnit);
    const __m256 d32v = _mm256_set1_ps(d32);

    for (; k < S; k += 8) {
      const __mmask8 lanes = static_cast<__mmask8>(S - k >= 8 ? 0xff : (1u << (S - k)) - 1);
      const __m512d av = _mm512_maskz_loadu_pd(lanes, a + k);
      __m256 fv = _mm256_maskz_loadu_ps(lanes, f32 + k);
      const __mmask8 was_off = off_chunk[k / 8];  // lanes already off the grid
      const __m512d y = _mm512_mul_pd(dv, _mm512_maskz_loadu_pd(lanes, w + k));
      // A step whose exact sum might reach 2^24 units leaves the grid (so does a NaN): from there on the lane runs
      // in float, the reference's own multiply-adds.
      const __m512d reach = _mm512_add_pd(_mm512_abs_pd(av), _mm512_abs_pd(y));
      const __mmask8 leaving = _mm512_cmp_pd_mask(reach, edge, _CMP_NLT_UQ) & lanes & static_cast<__mmask8>(~was_off);
      fv = _mm256_mask_mov_ps(fv, leaving, _mm512_cvtpd_ps(_mm512_mul_pd(av, unit)));  // exact: on the grid
      const __mmask8 now_off = was_off | leaving;
      fv = _mm256_mask3_fmadd_ps(d32v, _mm256_maskz_loadu_ps(lanes, w32 + k), fv, now_off);  // the float step
      const __m512d sum = _mm512_add_pd(av, y);
      const __m512d fl = _mm512_roundscale_pd(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      const __m512d r = _mm512_sub_pd(y, fl);
      const __m512d base = _mm512_add_pd(av, fl);
      const __m512d half = _mm512_mul_pd(base, halfv);
      const __mmask8 odd =
          _mm512_cmp_pd_mask(_mm512_roundscale_pd(half, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC), half, _CMP_NEQ_UQ);
      const __mmask8 up = _mm512_cmp_pd_mask(r, halfv, _CMP_GT_OQ) | (_mm512_cmp_pd_mask(r, halfv, _CMP_EQ_OQ) & odd);
      __m512d rounded = _mm512_mask_add_pd(base, up, base, one);
      const __mmask8 zero = _mm512_cmp_pd_mask(rounded, _mm512_setzero_pd(), _CMP_EQ_OQ);
      rounded = _mm512_mask_mov_pd(rounded, zero, _mm512_and_pd(sum, sign));  // copysign(0, sum)
      _mm512_mask_storeu_pd(a + k, lanes & static_cast<__mmask8>(~now_off), rounded);
      _mm256_mask_storeu_ps(f32 + k, now_off, fv);
      off_chunk[k / 8] = now_off;
    }
    // (k == S here: the masked vectors covered every unit.)
#endif
    for (; k < S; ++k) {
      const double y = d * w[k];                                  // exact
      if (!gone[k] && !(std::abs(a[k]) + std::abs(y) < kEdge)) {  // leaves the grid (or a NaN): float from here on
        gone[k] = 1;
        f32[k] = static_cast<float>(a[k] * kUnit);  // exact
      }
      if (gone[k]) {
        f32[k] = std::fma(d32, w32[k], f32[k]);
        continue;
      }
      const double sum = a[k] + y;                  // its sign decides a zero result's sign
      const double fl = std::floor(y), r = y - fl;  // exact
      const double base = a[k] + fl;                // exact integer
      const double half = base * 0.5;
      const bool odd = std::floor(half) != half;
      const double rounded = base + ((r > 0.5 || (r == 0.5 && odd)) ? 1.0 : 0.0);
      a[k] = rounded == 0.0 ? std::copysign(0.0, sum) : rounded;
    }
  }
#if defined(__AVX512F__)
  for (int64_t k = 0; k < S; ++k) gone[k] = off_chunk[k / 8] >> (k % 8) & 1;
#endif
  for (int64_t k = 0; k < S; ++k) dh[k] = gone[k] ? f32[k] : static_cast<float>(a[k] * kUnit);  // exact on the grid
}

}  // namespace bilmod
