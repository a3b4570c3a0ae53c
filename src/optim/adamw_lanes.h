// One AdamW step on a register of N float lanes (N = 16, 8 or 4), AVX-512 only: the vector form of
// adamw_fast.cc's adamw_update, operation for operation with the same roundings (no FMA: each product is rounded
// before its sum, as -ffp-contract=off keeps the scalar formula).
//
// Why three widths: the square root and the division of every element and step run on the core's divider, which
// bounds the lazy replay (adamw_fast.cc), and the divider's time per instruction falls with the width
// (build/bench/bilmod_machine_peak measures it): a row's last few elements take a narrow register, not a mostly
// empty wide one.
#pragma once
#include "optim/adamw_scalars.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#define BILMOD_ADAMW_LANES 1
#include <immintrin.h>

namespace bilmod {

// The operations the step needs, on N lanes; Mask has a bit per lane. masked loads give +0 in the other lanes.
template <int N>
struct FloatLanes;

template <>
struct FloatLanes<16> {
  using V = __m512;
  using Mask = __mmask16;
  static V load(Mask k, const float* x) { return _mm512_maskz_loadu_ps(k, x); }
  static void store(float* x, Mask k, V a) { _mm512_mask_storeu_ps(x, k, a); }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V zero() { return _mm512_setzero_ps(); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static Mask is_zero(V a) { return _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_EQ_OQ); }
  static Mask is_subnormal(V a) { return _mm512_fpclass_ps_mask(a, 0x20); }
  static Mask below(Mask k, V a, float bound) {  // |a| < bound
    return _mm512_mask_cmp_ps_mask(k, _mm512_abs_ps(a), _mm512_set1_ps(bound), _CMP_LT_OQ);
  }
  // float(double(a) * d) per lane: one rounding of the exact double product.
  static V times_in_double(V a, double d) {
    const __m512d dd = _mm512_set1_pd(d);
    const __m256 low = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)), dd));
    const __m256 high = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1)), dd));
    return _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
  }
  // float(op(double(a), double(b))) per lane (op on 8 doubles at a time); sqrt likewise.
  template <typename Op>
  static V in_double(V a, V b, Op op) {
    const __m256 low =
        _mm512_cvtpd_ps(op(_mm512_cvtps_pd(_mm512_castps512_ps256(a)), _mm512_cvtps_pd(_mm512_castps512_ps256(b))));
    const __m256 high = _mm512_cvtpd_ps(
        op(_mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1)), _mm512_cvtps_pd(_mm512_extractf32x8_ps(b, 1))));
    return _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
  }
  static V sqrt_in_double(V a) {
    const __m256 low = _mm512_cvtpd_ps(_mm512_sqrt_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a))));
    const __m256 high = _mm512_cvtpd_ps(_mm512_sqrt_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1))));
    return _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
  }
};

template <>
struct FloatLanes<8> {
  using V = __m256;
  using Mask = __mmask8;
  static V load(Mask k, const float* x) { return _mm256_maskz_loadu_ps(k, x); }
  static void store(float* x, Mask k, V a) { _mm256_mask_storeu_ps(x, k, a); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V zero() { return _mm256_setzero_ps(); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static Mask is_zero(V a) { return _mm256_cmp_ps_mask(a, _mm256_setzero_ps(), _CMP_EQ_OQ); }
  static Mask is_subnormal(V a) { return _mm256_fpclass_ps_mask(a, 0x20); }
  static Mask below(Mask k, V a, float bound) {
    return _mm256_mask_cmp_ps_mask(k, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a), _mm256_set1_ps(bound), _CMP_LT_OQ);
  }
  static V times_in_double(V a, double d) {
    return _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(a), _mm512_set1_pd(d)));
  }
  template <typename Op>
  static V in_double(V a, V b, Op op) {
    return _mm512_cvtpd_ps(op(_mm512_cvtps_pd(a), _mm512_cvtps_pd(b)));
  }
  static V sqrt_in_double(V a) { return _mm512_cvtpd_ps(_mm512_sqrt_pd(_mm512_cvtps_pd(a))); }
};

template <>
struct FloatLanes<4> {
  using V = __m128;
  using Mask = __mmask8;
  static V load(Mask k, const float* x) { return _mm_maskz_loadu_ps(k, x); }
  static void store(float* x, Mask k, V a) { _mm_mask_storeu_ps(x, k, a); }
  static V set1(float a) { return _mm_set1_ps(a); }
  static V zero() { return _mm_setzero_ps(); }
  static V mul(V a, V b) { return _mm_mul_ps(a, b); }
  static V add(V a, V b) { return _mm_add_ps(a, b); }
  static V sqrt(V a) { return _mm_sqrt_ps(a); }
  static V div(V a, V b) { return _mm_div_ps(a, b); }
  static Mask is_zero(V a) { return _mm_cmp_ps_mask(a, _mm_setzero_ps(), _CMP_EQ_OQ); }
  static Mask is_subnormal(V a) { return _mm_fpclass_ps_mask(a, 0x20); }
  static Mask below(Mask k, V a, float bound) {
    return _mm_mask_cmp_ps_mask(k, _mm_andnot_ps(_mm_set1_ps(-0.0f), a), _mm_set1_ps(bound), _CMP_LT_OQ);
  }
  static V times_in_double(V a, double d) {
    return _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(a), _mm256_set1_pd(d)));
  }
  template <typename Op>
  static V in_double(V a, V b, Op op) {
    return _mm256_cvtpd_ps(op(_mm256_cvtps_pd(a), _mm256_cvtps_pd(b)));
  }
  static V sqrt_in_double(V a) { return _mm256_cvtpd_ps(_mm256_sqrt_pd(_mm256_cvtps_pd(a))); }
};

// p * decay without the subnormal penalty (a float product among the subnormals costs a microcode assist; the seed
// model's rows that no gradient reaches only decay, and reach the subnormals mid-run): where a lane is subnormal the
// product is formed exactly in double and rounded once, the float multiply's bits (docs/NUMERICS.md "Decay in
// double"). kMaybeSubnormal = false skips the test, for callers that have ruled subnormals out for a whole row.
template <int N, bool kMaybeSubnormal = true>
inline typename FloatLanes<N>::V times_decay(typename FloatLanes<N>::V p, float decay) {
  using L = FloatLanes<N>;
  if (!kMaybeSubnormal || L::is_subnormal(p) == 0) [[likely]]
    return L::mul(p, L::set1(decay));
  return L::times_in_double(p, static_cast<double>(decay));
}

// One step on N lanes (lanes: which of them are elements). kZeroShortcut: where every lane's new state is zero (vi
// and mi both +-0), sqrt(vi) * inv_bc2_sqrt is +-0 and denom = +-0 + eps = eps exactly (eps > 0, RunConfig checks),
// and mi / eps is mi itself, sign included; so the quotient is mi, bit for bit, without a sqrt or a division. The
// test costs a few instructions per vector: callers that know a vector's state is not zero pass false (the result is
// the same either way).
template <int N, bool kMaybeSubnormal = true, bool kZeroShortcut = true>
inline void adamw_lanes_step(typename FloatLanes<N>::V& p, const typename FloatLanes<N>::V g,
                             typename FloatLanes<N>::V& m, typename FloatLanes<N>::V& v,
                             typename FloatLanes<N>::Mask lanes, const AdamWConstants& c, const AdamWStepScalars& s) {
  using L = FloatLanes<N>;
  const auto pi = times_decay<N, kMaybeSubnormal>(p, s.decay);  // p.mul_(1 - lr*wd)
  const auto mi =
      L::add(L::mul(m, L::set1(c.beta1)), L::mul(g, L::set1(c.one_minus_beta1)));  // m.mul_(b1).add_(g, alpha=1-b1)
  const auto vi = L::add(L::mul(v, L::set1(c.beta2)),
                         L::mul(L::mul(L::set1(c.one_minus_beta2), g), g));  // v.mul_(b2).addcmul_(g, g, 1-b2)
  auto quotient = mi;
  if (!kZeroShortcut || ((L::is_zero(mi) & L::is_zero(vi) & lanes) != lanes)) {
    // v.sqrt() / sqrt(bc2) as float(double(sqrt(v)) * (1 / sqrt(bc2))): exact, see adamw_fast.cc adamw_update.
    const auto scaled = L::times_in_double(L::sqrt(vi), s.inv_bc2_sqrt);
    quotient = L::div(mi, L::add(scaled, L::set1(c.eps)));  // m / (... + eps)
  }
  p = L::add(pi, L::mul(L::set1(s.neg_step_size), quotient));  // p.addcdiv_(m, denom, value=-lr/bc1)
  m = mi;
  v = vi;
}

// A zero-gradient step on lanes whose state is zero (m and v +-0): m and v become +0 (+-0 * beta + +0), the quotient
// is that +0 (adamw_lanes_step's shortcut), and p = p * decay + (-lr/bc1) * +0: a multiply and an add, the same bits.
template <int N, bool kMaybeSubnormal>
inline typename FloatLanes<N>::V zero_state_step(typename FloatLanes<N>::V p, const AdamWStepScalars& s) {
  using L = FloatLanes<N>;
  return L::add(times_decay<N, kMaybeSubnormal>(p, s.decay), L::set1(s.neg_step_size * 0.0f));
}

}  // namespace bilmod
#endif
