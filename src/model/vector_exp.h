// expf, 16 lanes at a time, bitwise identical to the C library's scalar expf that std::exp(float) calls here: glibc's
// algorithm with its five fused multiply-adds (docs/NUMERICS.md "The softmax's exp"); |x| >= 88, infinities and NaN go
// to std::exp itself. tests/unit/vector_exp_exhaustive_test.cc compares the two on every float in [-104, 89].
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>
#define BILMOD_VECTOR_EXP 1
#endif

namespace bilmod {

#ifdef BILMOD_VECTOR_EXP
namespace vector_exp_detail {
// tab[i] = bits(2^(i/32)) - (i << 47), as glibc's __exp2f_data.tab.
alignas(64) inline constexpr uint64_t kTable[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b,
    0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb,
    0x3feedea64c123422, 0x3feece086061892d, 0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
    0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d, 0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540};

// 8 lanes in double; x already known to be outside glibc's special range.
inline __m256 exp8_regular(__m256 x) {
  const __m512d inv_ln2_n = _mm512_set1_pd(0x1.71547652b82fep+0 * 32);
  const __m512d shift = _mm512_set1_pd(0x1.8p+52);
  const __m512d c0 = _mm512_set1_pd(0x1.c6af84b912394p-5 / 32 / 32 / 32);
  const __m512d c1 = _mm512_set1_pd(0x1.ebfce50fac4f3p-3 / 32 / 32);
  const __m512d c2 = _mm512_set1_pd(0x1.62e42ff0c52d6p-1 / 32);
  const __m512d one = _mm512_set1_pd(1.0);
  const __m512i t0 = _mm512_load_si512(kTable), t1 = _mm512_load_si512(kTable + 8);
  const __m512i t2 = _mm512_load_si512(kTable + 16), t3 = _mm512_load_si512(kTable + 24);
  const __m512d xd = _mm512_cvtps_pd(x);
  // glibc's z = InvLn2N * x feeds only additions, so its compiler fused both: kd = fma(., ., SHIFT) and r = fma(., ., -kd).
  __m512d kd = _mm512_fmadd_pd(inv_ln2_n, xd, shift);
  const __m512i ki = _mm512_castpd_si512(kd);
  kd = _mm512_sub_pd(kd, shift);
  const __m512d r = _mm512_fmsub_pd(inv_ln2_n, xd, kd);
  // T[ki % 32]: two 16-entry permutes selected by bit 4 of the index.
  const __m512i lo = _mm512_permutex2var_epi64(t0, ki, t1), hi = _mm512_permutex2var_epi64(t2, ki, t3);
  const __mmask8 upper = _mm512_test_epi64_mask(ki, _mm512_set1_epi64(16));
  __m512i t = _mm512_mask_blend_epi64(upper, lo, hi);
  t = _mm512_add_epi64(t, _mm512_slli_epi64(ki, 52 - 5));
  const __m512d s = _mm512_castsi512_pd(t);
  const __m512d zz = _mm512_fmadd_pd(c0, r, c1);
  const __m512d r2 = _mm512_mul_pd(r, r);
  __m512d y = _mm512_fmadd_pd(c2, r, one);
  y = _mm512_fmadd_pd(zz, r2, y);
  y = _mm512_mul_pd(y, s);
  return _mm512_cvtpd_ps(y);
}
}  // namespace vector_exp_detail

// out[i] = std::exp(x[i]) for 16 lanes.
inline __m512 exp16(__m512 x) {
  using namespace vector_exp_detail;
  // glibc's test: top 12 bits of |x| >= those of 88.0f, i.e. |x| >= 88, inf or NaN.
  const __m512i abs_bits = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff));
  const __mmask16 special = _mm512_cmpge_epu32_mask(_mm512_srli_epi32(abs_bits, 20), _mm512_set1_epi32(0x42b));
  const __m256 lo = exp8_regular(_mm512_castps512_ps256(x));
  const __m256 hi = exp8_regular(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
  __m512 y =
      _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
  if (special) [[unlikely]] {
    alignas(64) float xs[16], ys[16];
    _mm512_store_ps(xs, x);
    _mm512_store_ps(ys, y);
    for (int i = 0; i < 16; ++i)
      if (special & (1u << i)) ys[i] = std::exp(xs[i]);
    y = _mm512_load_ps(ys);
  }
  return y;
}
#endif

}  // namespace bilmod
