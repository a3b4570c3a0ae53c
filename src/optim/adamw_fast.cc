#include "optim/adamw_fast.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>
#include <vector>

#include "optim/adamw_detour.h"
#include "optim/adamw_lanes.h"
#include "util/simd_lanes.h"
#include "util/subnormal_watch.h"

namespace bilmod {

namespace {

// Elementwise work is split in fixed chunks across threads: each element's arithmetic is the same whatever
// the thread count.
constexpr int64_t kElementwiseParallelThreshold = 1 << 15;

// One element of one AdamW step, the formula every path uses: this scalar form on machines without AVX-512, and
// adamw_lanes_step (adamw_lanes.h), its operations one for one on 16, 8 or 4 lanes, where there is AVX-512
// (tests/unit/optimizer_paths_test.cc checks both against torch's float formula, bit for bit). torch's sqrt(v) / sqrt(bc2)
// is a double multiply here, the same float for every input (docs/NUMERICS.md "AdamW: one multiply instead of a
// division"), which frees the divider that bounds this loop.
inline void adamw_update(float& p, const float g, float& m, float& v, const AdamWConstants& c,
                         const AdamWStepScalars& s) {
  // p.mul_(1 - lr*wd), formed exactly in double and rounded once: the float product's bits, without the microcode
  // assist a subnormal product costs (see times_decay in adamw_lanes.h); here without a branch, so the loop stays a vector loop.
  const float pi = static_cast<float>(static_cast<double>(p) * static_cast<double>(s.decay));
  const float mi = m * c.beta1 + g * c.one_minus_beta1;      // exp_avg.mul_(b1).add_(g, alpha=1-b1)
  const float vi = v * c.beta2 + c.one_minus_beta2 * g * g;  // exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
  const float scaled = static_cast<float>(static_cast<double>(std::sqrt(vi)) * s.inv_bc2_sqrt);  // v.sqrt() / sqrt(bc2)
  const float denom = scaled + c.eps;                                                            // .add_(eps)
  p = pi + s.neg_step_size * (mi / denom);  // p.addcdiv_(m, denom, value=-lr/bc1)
  m = mi;
  v = vi;
}

#if defined(BILMOD_ADAMW_LANES)
// adamw_update on up to 16 elements at once (adamw_lanes.h), so that a row of H = 100 needs no scalar tail (a masked
// last vector) and a vector whose state is all zero can skip the divider.
// kWatch: a vector that would meet a subnormal float takes the step in double (adamw_lanes_step_in_double, the same
// bits without the microcode assists); returns whether it did.
template <bool kWatch>
inline bool adamw_update16(float* p, const float* g, float* m, float* v, __mmask16 lanes, const AdamWConstants& c,
                           const AdamWStepScalars& s) {
  using L = FloatLanes<16>;
  __m512 pv = L::load(lanes, p), mv = L::load(lanes, m), vv = L::load(lanes, v);
  const __m512 gv = g ? L::load(lanes, g) : L::zero();
  const bool in_double = kWatch && meets_subnormal<16>(mv, vv, lanes);
  if (in_double)
    adamw_lanes_step_in_double<16>(pv, gv, mv, vv, c, s);
  else
    adamw_lanes_step<16>(pv, gv, mv, vv, lanes, c, s);
  L::store(p, lanes, pv);
  L::store(m, lanes, mv);
  L::store(v, lanes, vv);
  return in_double;
}

// k zero-gradient steps on a row of kFull 16-lane vectors (the last one masked when the row ends inside it) and, when
// kTail > 0, one more vector of kTail (4 or 8) lanes for the row's last width % 16 <= kTail elements, held in registers
// for all k steps: loaded once, stored once.
//
// A vector whose state is zero (m and v +-0 in every lane: no gradient has reached it yet, as in the seed model's
// validation rows) stays zero through zero-gradient steps, so it is classed once here instead of tested at every
// step, and takes zero_state_step: a multiply and an add instead of the divider. The other vectors take the full step
// without the test (which gives the same bits: adamw_lanes_step).
template <int kFull, int kTail>
inline void replay_in_registers(const AdamWConstants& c, const AdamWStepScalars* scalars, int64_t k, float* p, float* m,
                                float* v, int64_t width) {
  using L = FloatLanes<16>;
  using T = FloatLanes<kTail == 0 ? 4 : kTail>;  // (unused when kTail == 0)
  constexpr int kTailLanes = kTail == 0 ? 4 : kTail;
  constexpr int kArray = kFull > 0 ? kFull : 1;  // (a row of at most 8 has no full vector)
  __m512 pr[kArray], mr[kArray], vr[kArray];
  __mmask16 lanes[kArray];
  uint32_t zero_state = 0;  // bit j: vector j (kFull: the tail) has m == v == 0 in every lane
  __mmask16 small = 0;      // a lane with |p| < 2^-100: decay could take it to the subnormals within these k steps
  for (int j = 0; j < kFull; ++j) {
    lanes[j] = first_lanes(width - 16 * j);
    pr[j] = L::load(lanes[j], p + 16 * j);
    mr[j] = L::load(lanes[j], m + 16 * j);
    vr[j] = L::load(lanes[j], v + 16 * j);
    if ((L::is_zero(mr[j]) & L::is_zero(vr[j]) & lanes[j]) == lanes[j]) zero_state |= 1u << j;
    small |= L::below(lanes[j], pr[j], 0x1p-100f);
  }
  typename T::V pt = T::zero(), mt = T::zero(), vt = T::zero();
  typename T::Mask tail_lanes = 0;
  if constexpr (kTail > 0) {
    const int64_t at = 16 * kFull;
    tail_lanes = static_cast<typename T::Mask>(first_lanes(width - at));
    pt = T::load(tail_lanes, p + at);
    mt = T::load(tail_lanes, m + at);
    vt = T::load(tail_lanes, v + at);
    if ((T::is_zero(mt) & T::is_zero(vt) & tail_lanes) == tail_lanes) zero_state |= 1u << kFull;
    small |= T::below(tail_lanes, pt, 0x1p-100f);
  }
  const __m512 zero = L::zero();
  const typename T::V tail_zero = T::zero();
  auto replay = [&](auto maybe_subnormal, auto some_zero_state) {
    constexpr bool kMaybeSubnormal = maybe_subnormal(), kSomeZeroState = some_zero_state();
    for (int64_t step = 0; step < k; ++step) {
      const AdamWStepScalars& s = scalars[step];
      for (int j = 0; j < kFull; ++j) {
        if (kSomeZeroState && (zero_state >> j & 1))
          pr[j] = zero_state_step<16, kMaybeSubnormal>(pr[j], s);
        else
          adamw_lanes_step<16, kMaybeSubnormal, false>(pr[j], zero, mr[j], vr[j], lanes[j], c, s);
      }
      if constexpr (kTail > 0) {
        if (kSomeZeroState && (zero_state >> kFull & 1))
          pt = zero_state_step<kTailLanes, kMaybeSubnormal>(pt, s);
        else
          adamw_lanes_step<kTailLanes, kMaybeSubnormal, false>(pt, tail_zero, mt, vt, tail_lanes, c, s);
      }
    }
  };
  if (small) {
    if (zero_state)
      replay(std::true_type{}, std::true_type{});
    else
      replay(std::true_type{}, std::false_type{});
  } else {
    if (zero_state)
      replay(std::false_type{}, std::true_type{});
    else
      replay(std::false_type{}, std::false_type{});
  }
  // A zero-state vector's m and v after k >= 1 steps: +0 (+-0 * beta + +0).
  for (int j = 0; j < kFull; ++j) {
    if (zero_state >> j & 1) mr[j] = vr[j] = zero;
    L::store(p + 16 * j, lanes[j], pr[j]);
    L::store(m + 16 * j, lanes[j], mr[j]);
    L::store(v + 16 * j, lanes[j], vr[j]);
  }
  if constexpr (kTail > 0) {
    if (zero_state >> kFull & 1) mt = vt = tail_zero;
    const int64_t at = 16 * kFull;
    T::store(p + at, tail_lanes, pt);
    T::store(m + at, tail_lanes, mt);
    T::store(v + at, tail_lanes, vt);
  }
}

// One AdamW step on one row of `width` elements (g == nullptr: a zero gradient). kWatch: see adamw_update16; returns
// whether any vector took the step in double.
template <bool kWatch = false>
inline bool adamw_row(const AdamWConstants& c, const AdamWStepScalars& s, float* __restrict p,
                      const float* __restrict g, float* __restrict m, float* __restrict v, int64_t width) {
  bool in_double = false;
  for (int64_t i = 0; i < width; i += 16) {
    const int64_t left = width - i;
    in_double |= adamw_update16<kWatch>(p + i, g ? g + i : nullptr, m + i, v + i, first_lanes(left), c, s);
  }
  return in_double;
}

// A row's shape in registers: kFull 16-lane vectors and a tail of kTail lanes (0, 4 or 8), for rows of up to 112.
template <int kFull>
inline bool replay_with_tail(const AdamWConstants& c, const AdamWStepScalars* scalars, int64_t k, float* p, float* m,
                             float* v, int64_t width) {
  const int64_t rest = width - 16 * kFull;  // 0..16 elements after the full vectors
  if constexpr (kFull > 0) {
    if (rest == 0) return replay_in_registers<kFull, 0>(c, scalars, k, p, m, v, width), true;
  }
  if constexpr (kFull < 7) {
    if (rest >= 1 && rest <= 4) return replay_in_registers<kFull, 4>(c, scalars, k, p, m, v, width), true;
    if (rest >= 5 && rest <= 8) return replay_in_registers<kFull, 8>(c, scalars, k, p, m, v, width), true;
    if (rest >= 9 && rest < 16) return replay_in_registers<kFull + 1, 0>(c, scalars, k, p, m, v, width), true;
  }
  return false;
}
#else
template <bool kWatch = false>
inline bool adamw_row(const AdamWConstants& c, const AdamWStepScalars& s, float* __restrict p,
                      const float* __restrict g, float* __restrict m, float* __restrict v, int64_t width) {
  if (g) {
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) adamw_update(p[i], g[i], m[i], v[i], c, s);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) adamw_update(p[i], 0.0f, m[i], v[i], c, s);
  }
  return false;
}
#endif

#if defined(BILMOD_ADAMW_LANES)
// Seconds for 4096 dense steps on state late in a run (m, v and g subnormal, p small) by the float step (the plain
// path) or in double (the detour).
double time_subnormal_adamw(bool detour) {
  constexpr int64_t n = 4096;
  thread_local std::vector<float> p, g, m, v;
  p.resize(n), g.resize(n), m.resize(n), v.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const float sign = i % 3 ? 1.0f : -1.0f;
    p[i] = sign * 1e-3f * static_cast<float>(1 + i % 7);
    g[i] = sign * 1e-41f * static_cast<float>(1 + i % 5);
    m[i] = -sign * 1e-40f * static_cast<float>(1 + i % 11);
    v[i] = 1e-42f * static_cast<float>(1 + i % 13);
  }
  const OptimizerSettings settings;
  const AdamWConstants c = adamw_constants(settings);
  const AdamWStepScalars s = adamw_scalars(settings, 1e-3, 1000);
  const auto start = std::chrono::steady_clock::now();
  if (detour)
    adamw_row<true>(c, s, p.data(), g.data(), m.data(), v.data(), n);
  else
    adamw_row<false>(c, s, p.data(), g.data(), m.data(), v.data(), n);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

#endif

}  // namespace

// Whether the dense step watches for vectors with subnormal state (adamw_update16's kWatch; util/subnormal_watch.h).
// Late in a run the m and v of parameters that no longer matter are subnormal; where the double step pays on this
// processor (measured), watching costs a few instructions per vector.
std::shared_ptr<SubnormalWatch> make_adamw_watch() {
#if defined(BILMOD_ADAMW_LANES)
  return std::make_shared<SubnormalWatch>(kMxcsrDenormalOperand | kMxcsrUnderflow, time_subnormal_adamw);
#else
  return nullptr;
#endif
}

// The dense step over [0, count): chunks of 4096 elements (16 KiB per array), split across threads; each element's
// arithmetic is adamw_row's whatever the thread count.
void adamw_fast_range(const AdamWConstants& c, const AdamWStepScalars& s, float* __restrict p,
                      const float* __restrict g, float* __restrict m, float* __restrict v, int64_t count,
                      SubnormalWatch* adamw_watch) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (count + kChunk - 1) / kChunk;
#if defined(BILMOD_ADAMW_LANES)
  const bool watch = adamw_watch != nullptr && adamw_watch->watching();
  bool met = false;  // watching: some vector took the step in double; not watching: the core saw a subnormal
#pragma omp parallel if (count > kElementwiseParallelThreshold) reduction(|| : met)
  {
    if (!watch && adamw_watch) adamw_watch->clear_flags();
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < chunks; ++i) {
      const int64_t at = i * kChunk, width = std::min(kChunk, count - at);
      if (watch)
        met = adamw_row<true>(c, s, p + at, g + at, m + at, v + at, width) || met;
      else
        adamw_row<false>(c, s, p + at, g + at, m + at, v + at, width);
    }
    if (!watch && adamw_watch) met = adamw_watch->flags_raised();
  }
  if (adamw_watch) adamw_watch->update(watch, met);
#else
#pragma omp parallel for schedule(static) if (count > kElementwiseParallelThreshold)
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t at = i * kChunk;
    adamw_row(c, s, p + at, g + at, m + at, v + at, std::min(kChunk, count - at));
  }
#endif
}

void adamw_fast_row(const AdamWConstants& c, const AdamWStepScalars& s, float* p, const float* g, float* m, float* v,
                    int64_t width) {
  adamw_row(c, s, p, g, m, v, width);
}

// Steps scalars[0..k) with a zero gradient, on one row held in L1. Bound by the divider (one sqrt and one division
// per element and step), as the dense loop is, except where the row's state is zero (adamw_update16): what the lazy
// path saves is memory traffic, and the arithmetic of rows no gradient has reached.
void adamw_replay_row(const AdamWConstants& c, const AdamWStepScalars* scalars, int64_t k, float* __restrict p,
                      float* __restrict m, float* __restrict v, int64_t width) {
#if defined(BILMOD_ADAMW_LANES)
  // Rows of up to 112 floats (H = 100: six 16-lane vectors and a 4-lane one) stay in registers through all k steps.
  if (k > 1) {
    bool done = false;
    switch (width / 16) {
      case 0:
        done = replay_with_tail<0>(c, scalars, k, p, m, v, width);
        break;
      case 1:
        done = replay_with_tail<1>(c, scalars, k, p, m, v, width);
        break;
      case 2:
        done = replay_with_tail<2>(c, scalars, k, p, m, v, width);
        break;
      case 3:
        done = replay_with_tail<3>(c, scalars, k, p, m, v, width);
        break;
      case 4:
        done = replay_with_tail<4>(c, scalars, k, p, m, v, width);
        break;
      case 5:
        done = replay_with_tail<5>(c, scalars, k, p, m, v, width);
        break;
      case 6:
        done = replay_with_tail<6>(c, scalars, k, p, m, v, width);
        break;
      case 7:
        done = replay_with_tail<7>(c, scalars, k, p, m, v, width);
        break;
      default:
        break;
    }
    if (done) return;
  }
#endif
  for (int64_t step = 0; step < k; ++step) adamw_row(c, scalars[step], p, nullptr, m, v, width);
}

}  // namespace bilmod
