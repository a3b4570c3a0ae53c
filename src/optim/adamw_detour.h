// The subnormal detour of the fast AdamW path: a step whose state meets a subnormal float is taken with every
// operation formed in double and rounded to float at once, the float operation's bits, without the microcode assist
// that some processors take per subnormal operand. Whether it pays is measured on the processor at hand
// (util/subnormal_watch.h, adamw_fast.cc).
#pragma once
#include "optim/adamw_lanes.h"

#if defined(BILMOD_ADAMW_LANES)
namespace bilmod {

// adamw_lanes_step with every operation formed in double and rounded to float at once: the float operation's bits
// (docs/NUMERICS.md "The whole AdamW step in double"), without the microcode assists that subnormal floats cost.
// tests/unit/optimizer_paths_test.cc checks it against the float formula on subnormals, zeros, NaN and inf.
template <int N>
inline void adamw_lanes_step_in_double(typename FloatLanes<N>::V& p, const typename FloatLanes<N>::V g,
                                       typename FloatLanes<N>::V& m, typename FloatLanes<N>::V& v,
                                       const AdamWConstants& c, const AdamWStepScalars& s) {
  using L = FloatLanes<N>;
  using V = typename L::V;
  const auto mul = [](V a, V b) { return L::in_double(a, b, [](auto x, auto y) { return x * y; }); };
  const auto add = [](V a, V b) { return L::in_double(a, b, [](auto x, auto y) { return x + y; }); };
  const auto div = [](V a, V b) { return L::in_double(a, b, [](auto x, auto y) { return x / y; }); };
  const V pi = L::times_in_double(p, static_cast<double>(s.decay));
  const V mi = add(mul(m, L::set1(c.beta1)), mul(g, L::set1(c.one_minus_beta1)));
  const V vi = add(mul(v, L::set1(c.beta2)), mul(mul(L::set1(c.one_minus_beta2), g), g));
  const V scaled = L::times_in_double(L::sqrt_in_double(vi), s.inv_bc2_sqrt);
  p = add(pi, mul(L::set1(s.neg_step_size), div(mi, add(scaled, L::set1(c.eps)))));
  m = mi;
  v = vi;
}

// Whether a step on these lanes would meet a subnormal float in its state: m or v subnormal (then most of the step's
// multiplies take an assist). A gradient whose square alone falls below the normal range costs one assist in the
// float step, less than the whole step in double; p's own case is times_decay's.
template <int N>
inline bool meets_subnormal(typename FloatLanes<N>::V m, typename FloatLanes<N>::V v,
                            typename FloatLanes<N>::Mask lanes) {
  using L = FloatLanes<N>;
  return ((L::is_subnormal(m) | L::is_subnormal(v)) & lanes) != 0;
}

}  // namespace bilmod
#endif
