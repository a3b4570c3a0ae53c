#include "model/subnormal_grid.h"

#include <cmath>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace bilmod {

namespace {
constexpr double kUnit = 0x1p-149;       // u: the float grid below 2^-125
constexpr double kPerUnit = 0x1p149;     // 1 / u
constexpr double kLimit = 0x1p24 - 0x1p8;  // partial sums stay below 2^24 u = 2^-125, with room to spare
}  // namespace

bool sums_stay_on_grid(const float* dlogits_row, int64_t P, float largest_weight) {
  // Each step adds at most |y| + 1/2 to |A|; double's rounding of this sum is far below the margin, and a NaN or an
  // infinity makes it NaN or infinite, which fails the test.
  double sum = 0;
  for (int64_t c = 0; c < P; ++c) sum += std::abs(static_cast<double>(dlogits_row[c]));
  return sum * static_cast<double>(largest_weight) * kPerUnit + static_cast<double>(P) < kLimit;
}

void dhidden_on_grid(const float* dlogits_row, const double* weights, int64_t P, int64_t S, float* dh) {
  thread_local std::vector<double> acc;  // (S,) A: the running sums in units of 2^-149
  acc.assign(static_cast<size_t>(S), 0.0);  // the chain starts at +0
  double* __restrict a = acc.data();
  for (int64_t c = 0; c < P; ++c) {
    const double d = static_cast<double>(dlogits_row[c]) * kPerUnit;  // d / u, exact (sign of zero kept)
    const double* __restrict w = weights + c * S;
    int64_t k = 0;
#if defined(__AVX512F__)
    // The same steps as the loop below, 8 at a time (GCC leaves that loop scalar).
    const __m512d dv = _mm512_set1_pd(d), halfv = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0);
    const __m512d sign = _mm512_set1_pd(-0.0);
    for (; k < S; k += 8) {
      const __mmask8 lanes = static_cast<__mmask8>(S - k >= 8 ? 0xff : (1u << (S - k)) - 1);
      const __m512d av = _mm512_maskz_loadu_pd(lanes, a + k);
      const __m512d y = _mm512_mul_pd(dv, _mm512_maskz_loadu_pd(lanes, w + k));
      const __m512d sum = _mm512_add_pd(av, y);
      const __m512d f = _mm512_roundscale_pd(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      const __m512d r = _mm512_sub_pd(y, f);
      const __m512d base = _mm512_add_pd(av, f);
      const __m512d half = _mm512_mul_pd(base, halfv);
      const __mmask8 odd =
          _mm512_cmp_pd_mask(_mm512_roundscale_pd(half, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC), half, _CMP_NEQ_UQ);
      const __mmask8 up = _mm512_cmp_pd_mask(r, halfv, _CMP_GT_OQ) | (_mm512_cmp_pd_mask(r, halfv, _CMP_EQ_OQ) & odd);
      __m512d rounded = _mm512_mask_add_pd(base, up, base, one);
      const __mmask8 zero = _mm512_cmp_pd_mask(rounded, _mm512_setzero_pd(), _CMP_EQ_OQ);
      rounded = _mm512_mask_mov_pd(rounded, zero, _mm512_and_pd(sum, sign));  // copysign(0, sum)
      _mm512_mask_storeu_pd(a + k, lanes, rounded);
    }
#endif
    for (; k < S; ++k) {
      const double y = d * w[k];                       // exact
      const double sum = a[k] + y;                     // its sign decides a zero result's sign
      const double f = std::floor(y), r = y - f;       // exact
      const double base = a[k] + f;                    // exact integer
      const double half = base * 0.5;
      const bool odd = std::floor(half) != half;
      const double rounded = base + ((r > 0.5 || (r == 0.5 && odd)) ? 1.0 : 0.0);
      a[k] = rounded == 0.0 ? std::copysign(0.0, sum) : rounded;
    }
  }
  for (int64_t k = 0; k < S; ++k) dh[k] = static_cast<float>(a[k] * kUnit);  // exact: on the float grid
}

}  // namespace bilmod
