#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "util/simd_lanes.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#endif

namespace bilmod {

std::optional<OptimizerKind> parse_optimizer_kind(const std::string& name) {
  if (name == "adamw") return OptimizerKind::kAdamW;
  if (name == "sgd") return OptimizerKind::kSgd;
  return std::nullopt;
}

std::string optimizer_kind_name(OptimizerKind kind) { return kind == OptimizerKind::kAdamW ? "adamw" : "sgd"; }

void OptimizerState::reset(const OptimizerSettings& settings, size_t n_params) {
  step = 0;
  exp_avg.assign(settings.kind == OptimizerKind::kAdamW ? n_params : 0, 0.0f);
  exp_avg_sq.assign(settings.kind == OptimizerKind::kAdamW ? n_params : 0, 0.0f);
  momentum_buffer.assign(settings.kind == OptimizerKind::kSgd && settings.momentum != 0.0 ? n_params : 0, 0.0f);
}

namespace {

// Elementwise work is split in fixed chunks across threads: each element's arithmetic is the same whatever
// the thread count.
constexpr int64_t kElementwiseParallelThreshold = 1 << 15;

struct AdamWConstants {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
};

AdamWConstants adamw_constants(const OptimizerSettings& s) {
  return {static_cast<float>(s.beta1), static_cast<float>(1.0 - s.beta1), static_cast<float>(s.beta2),
          static_cast<float>(1.0 - s.beta2), static_cast<float>(s.eps)};
}

// Scalars as torch computes them: Python floats (double), cast to float where they meet a float tensor.
AdamWStepScalars adamw_scalars(const OptimizerSettings& s, double lr, int64_t t) {
  const double bias_correction1 = 1.0 - std::pow(s.beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(s.beta2, static_cast<double>(t));
  AdamWStepScalars out;
  out.decay = static_cast<float>(1.0 - lr * s.weight_decay);
  out.neg_step_size = static_cast<float>(-(lr / bias_correction1));
  out.inv_bc2_sqrt = 1.0 / static_cast<double>(static_cast<float>(std::sqrt(bias_correction2)));
  return out;
}

// One element of one AdamW step, the formula every path uses: this scalar form on machines without AVX-512, and
// adamw_step16 below, its operations one for one on 16 lanes, where there is AVX-512 (tests/unit/lazy_adamw_test.cc
// checks both against torch's float formula, bit for bit).
//
// torch divides in float: sqrt(v) / c with c = float(sqrt(bc2)). Here that quotient is float(double(sqrt(v)) * y)
// with y = 1/c correctly rounded in double, which is the same float for every input: the double product is within
// 2^-52 (relative) of x/c, while x/c, a quotient of two 24-bit floats, is never a float rounding midpoint and never
// closer to one than 2^-49 (relative) [x/c = midpoint M*2^e, M odd with 25 bits, would need x = c*M*2^e to have 25
// bits; otherwise |x - c*mid| >= one unit of c*mid's last place, and c*mid < 2^49 of those units]. With c <= 1 no
// subnormal midpoint is reachable either. A multiply replaces one of the step's two divisions, which (with the sqrt)
// share the divider that bounds this loop. tests/unit/lazy_adamw_test.cc checks it against the float division.
[[maybe_unused]] inline void adamw_update(float& p, const float g, float& m, float& v, const AdamWConstants& c,
                         const AdamWStepScalars& s) {
  // p.mul_(1 - lr*wd), formed exactly in double and rounded once: the float product's bits, without the microcode
  // assist a subnormal product costs (see times_decay below); here without a branch, so the loop stays a vector loop.
  const float pi = static_cast<float>(static_cast<double>(p) * static_cast<double>(s.decay));
  const float mi = m * c.beta1 + g * c.one_minus_beta1;            // exp_avg.mul_(b1).add_(g, alpha=1-b1)
  const float vi = v * c.beta2 + c.one_minus_beta2 * g * g;        // exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
  const float scaled = static_cast<float>(static_cast<double>(std::sqrt(vi)) * s.inv_bc2_sqrt);  // v.sqrt() / sqrt(bc2)
  const float denom = scaled + c.eps;                              // .add_(eps)
  p = pi + s.neg_step_size * (mi / denom);                         // p.addcdiv_(m, denom, value=-lr/bc1)
  m = mi;
  v = vi;
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
// adamw_update on up to 16 elements at once (lanes: which of them), written with AVX-512 intrinsics so that a row of
// H = 100 needs no scalar tail (a masked last vector) and so that a vector whose state is all zero can skip the
// divider. The operations are adamw_update's, one for one, with the same roundings (no FMA: each product is rounded
// before its sum, as -ffp-contract=off keeps the scalar formula). g == nullptr means a zero gradient.
//
// The zero-state shortcut: where vi == +-0, sqrt(vi) * inv_bc2_sqrt is +-0 and denom = +-0 + eps = eps exactly; where
// also mi == +-0, mi / eps is mi itself, sign included. So where every lane has vi == 0 and mi == 0 the quotient is mi,
// bit for bit, without a sqrt or a division. That is every step of a row no gradient has reached yet (the seed model's
// validation pairs: 20 % of bilinear.weight at train fraction 0.8, 70 % at 0.3), which a sync must replay each epoch.
//
// p * decay without the subnormal penalty. A float product that lands among the subnormals costs an Intel core a
// microcode assist: 2.1 ns per vector instead of 0.06 (measured here). The seed model's rows that no gradient reaches
// only decay, reach the subnormals around epoch 700 of a default run and stay there (p * decay rounds back to p near
// the bottom of the range): the epoch went from 31 to 97 ms for the rest of the run. Where a lane is subnormal the
// product is formed in double, where it is exact (24 x 24 bits fit in 53), and rounded to float once: the same bits
// as the float multiply. (A normal p whose product first becomes subnormal takes the assist once; that is all.)
// kMaybeSubnormal = false skips the test, for callers that have ruled subnormals out for a whole row (a test per
// vector and step cost the replay 6 %).
template <bool kMaybeSubnormal = true>
inline __m512 times_decay(__m512 p, float decay) {
  if (!kMaybeSubnormal || _mm512_fpclass_ps_mask(p, 0x20) == 0) [[likely]]  // 0x20: denormal
    return _mm512_mul_ps(p, _mm512_set1_ps(decay));
  const __m512d d = _mm512_set1_pd(static_cast<double>(decay));
  const __m256 low = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(p)), d));
  const __m256 high = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(p, 1)), d));
  return _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
}

template <bool kMaybeSubnormal = true>
inline void adamw_step16(__m512& p, const __m512 g, __m512& m, __m512& v, __mmask16 lanes, const AdamWConstants& c,
                         const AdamWStepScalars& s) {
  const __m512 beta1 = _mm512_set1_ps(c.beta1), one_minus_beta1 = _mm512_set1_ps(c.one_minus_beta1);
  const __m512 beta2 = _mm512_set1_ps(c.beta2), one_minus_beta2 = _mm512_set1_ps(c.one_minus_beta2);
  const __m512 pi = times_decay<kMaybeSubnormal>(p, s.decay);
  const __m512 mi = _mm512_add_ps(_mm512_mul_ps(m, beta1), _mm512_mul_ps(g, one_minus_beta1));
  const __m512 vi = _mm512_add_ps(_mm512_mul_ps(v, beta2), _mm512_mul_ps(_mm512_mul_ps(one_minus_beta2, g), g));
  const __m512 zero = _mm512_setzero_ps();
  const __mmask16 all_zero = _mm512_cmp_ps_mask(mi, zero, _CMP_EQ_OQ) & _mm512_cmp_ps_mask(vi, zero, _CMP_EQ_OQ);
  __m512 quotient = mi;
  if ((all_zero & lanes) != lanes) {
    const __m512 root = _mm512_sqrt_ps(vi);
    const __m512d inv = _mm512_set1_pd(s.inv_bc2_sqrt);
    const __m256 low = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(root)), inv));
    const __m256 high = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(root, 1)), inv));
    const __m512 scaled = _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
    quotient = _mm512_div_ps(mi, _mm512_add_ps(scaled, _mm512_set1_ps(c.eps)));
  }
  p = _mm512_add_ps(pi, _mm512_mul_ps(_mm512_set1_ps(s.neg_step_size), quotient));
  m = mi;
  v = vi;
}


inline void adamw_update16(float* p, const float* g, float* m, float* v, __mmask16 lanes, const AdamWConstants& c,
                           const AdamWStepScalars& s) {
  __m512 pv = _mm512_maskz_loadu_ps(lanes, p), mv = _mm512_maskz_loadu_ps(lanes, m), vv = _mm512_maskz_loadu_ps(lanes, v);
  adamw_step16(pv, g ? _mm512_maskz_loadu_ps(lanes, g) : _mm512_setzero_ps(), mv, vv, lanes, c, s);
  _mm512_mask_storeu_ps(p, lanes, pv);
  _mm512_mask_storeu_ps(m, lanes, mv);
  _mm512_mask_storeu_ps(v, lanes, vv);
}

// k zero-gradient steps on a row of NV vectors held in registers for all of them: loaded once, stored once.
template <int NV>
inline void replay_in_registers(const AdamWConstants& c, const AdamWStepScalars* scalars, int64_t k, float* p, float* m,
                                float* v, int64_t width) {
  __m512 pr[NV], mr[NV], vr[NV];
  __mmask16 lanes[NV];
  for (int j = 0; j < NV; ++j) {
    lanes[j] = first_lanes(width - 16 * j);
    pr[j] = _mm512_maskz_loadu_ps(lanes[j], p + 16 * j);
    mr[j] = _mm512_maskz_loadu_ps(lanes[j], m + 16 * j);
    vr[j] = _mm512_maskz_loadu_ps(lanes[j], v + 16 * j);
  }
  const __m512 zero = _mm512_setzero_ps();
  // Whether any parameter of the row is small enough (|p| < 2^-100) that decay could take it to the subnormals
  // within these k steps: tested once for the whole replay instead of once per vector and step.
  __mmask16 small = 0;
  for (int j = 0; j < NV; ++j)
    small |= _mm512_mask_cmp_ps_mask(lanes[j], _mm512_abs_ps(pr[j]), _mm512_set1_ps(0x1p-100f), _CMP_LT_OQ);
  auto replay = [&](auto maybe_subnormal) {
    for (int64_t step = 0; step < k; ++step)
      for (int j = 0; j < NV; ++j)
        adamw_step16<maybe_subnormal()>(pr[j], zero, mr[j], vr[j], lanes[j], c, scalars[step]);
  };
  if (small) {
    replay(std::true_type{});
  } else {
    replay(std::false_type{});
  }
  for (int j = 0; j < NV; ++j) {
    _mm512_mask_storeu_ps(p + 16 * j, lanes[j], pr[j]);
    _mm512_mask_storeu_ps(m + 16 * j, lanes[j], mr[j]);
    _mm512_mask_storeu_ps(v + 16 * j, lanes[j], vr[j]);
  }
}

// One AdamW step on one row of `width` elements (g == nullptr: a zero gradient).
inline void adamw_row(const AdamWConstants& c, const AdamWStepScalars& s, float* __restrict p, const float* __restrict g,
                      float* __restrict m, float* __restrict v, int64_t width) {
  for (int64_t i = 0; i < width; i += 16) {
    const int64_t left = width - i;
    adamw_update16(p + i, g ? g + i : nullptr, m + i, v + i, first_lanes(left), c, s);
  }
}
#else
inline void adamw_row(const AdamWConstants& c, const AdamWStepScalars& s, float* __restrict p, const float* __restrict g,
                      float* __restrict m, float* __restrict v, int64_t width) {
  if (g) {
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) adamw_update(p[i], g[i], m[i], v[i], c, s);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) adamw_update(p[i], 0.0f, m[i], v[i], c, s);
  }
}
#endif

// Steps scalars[0..k) with a zero gradient, on one row held in L1. Bound by the divider (one sqrt and one division
// per element and step), as the dense loop is, except where the row's state is zero (adamw_update16): what the lazy
// path saves is memory traffic, and the arithmetic of rows no gradient has reached.
inline void replay_row(const AdamWConstants& c, const AdamWStepScalars* scalars, int64_t k, float* __restrict p,
                       float* __restrict m, float* __restrict v, int64_t width) {
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  // Rows of up to 112 floats (H = 100: 7 vectors) stay in registers through all k steps.
  if (k > 1) switch ((width + 15) / 16) {
      case 1: return replay_in_registers<1>(c, scalars, k, p, m, v, width);
      case 2: return replay_in_registers<2>(c, scalars, k, p, m, v, width);
      case 3: return replay_in_registers<3>(c, scalars, k, p, m, v, width);
      case 4: return replay_in_registers<4>(c, scalars, k, p, m, v, width);
      case 5: return replay_in_registers<5>(c, scalars, k, p, m, v, width);
      case 6: return replay_in_registers<6>(c, scalars, k, p, m, v, width);
      case 7: return replay_in_registers<7>(c, scalars, k, p, m, v, width);
      default: break;
    }
#endif
  for (int64_t step = 0; step < k; ++step) adamw_row(c, scalars[step], p, nullptr, m, v, width);
}

// The dense step over [0, count): chunks of 4096 elements (16 KiB per array), split across threads; each element's
// arithmetic is adamw_row's whatever the thread count.
void adamw_range(const AdamWConstants& c, const AdamWStepScalars& s, float* __restrict p, const float* __restrict g,
                 float* __restrict m, float* __restrict v, int64_t count) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (count + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (count > kElementwiseParallelThreshold)
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t at = i * kChunk;
    adamw_row(c, s, p + at, g + at, m + at, v + at, std::min(kChunk, count - at));
  }
}

void adamw_step(const OptimizerSettings& s, double lr, float* __restrict p, const float* __restrict g,
                float* __restrict m, float* __restrict v, int64_t t, size_t n) {
  adamw_range(adamw_constants(s), adamw_scalars(s, lr, t), p, g, m, v, static_cast<int64_t>(n));
}

void sgd_step(const OptimizerSettings& s, double lr, float* __restrict p, const float* __restrict g,
              float* __restrict buf, int64_t t, size_t n) {
  const float wd = static_cast<float>(s.weight_decay), momentum = static_cast<float>(s.momentum);
  const float neg_lr = static_cast<float>(-lr);
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for simd schedule(static) if (count > kElementwiseParallelThreshold)
  for (int64_t i = 0; i < count; ++i) {
    float d = g[i];
    if (wd != 0.0f) d = d + wd * p[i];  // d_p = d_p.add(p, alpha=wd)
    if (buf) {                          // first step: buf = d_p; then buf.mul_(momentum).add_(d_p) (dampening 0)
      buf[i] = t == 1 ? d : buf[i] * momentum + d;
      d = buf[i];
    }
    p[i] = p[i] + neg_lr * d;  // p.add_(d_p, alpha=-lr)
  }
}

}  // namespace

LazyRows make_lazy_rows(const OptimizerSettings& settings, const OptimizerState& state, size_t offset, int64_t rows,
                        int64_t width) {
  LazyRows lazy;
  lazy.enabled = settings.kind == OptimizerKind::kAdamW && rows > 0 && width > 0;
  lazy.offset = offset;
  lazy.rows = rows;
  lazy.width = width;
  lazy.synced_step = state.step;
  if (lazy.enabled) lazy.row_step.assign(static_cast<size_t>(rows), state.step);
  return lazy;
}

void clear_gradients(LazyRows* lazy, float* grads, size_t n) {
  if (!lazy->enabled) {
    std::fill(grads, grads + n, 0.0f);
    return;
  }
  const size_t block_end = lazy->offset + static_cast<size_t>(lazy->rows * lazy->width);
  std::fill(grads, grads + lazy->offset, 0.0f);
  std::fill(grads + block_end, grads + n, 0.0f);
  for (const int64_t r : lazy->pending) {
    float* row = grads + lazy->offset + r * lazy->width;
    std::fill(row, row + lazy->width, 0.0f);
  }
  lazy->pending.clear();
}

void optimizer_sync(const OptimizerSettings& settings, float* params, OptimizerState* state, LazyRows* lazy) {
  if (!lazy->enabled || lazy->synced_step == state->step) return;
  const AdamWConstants c = adamw_constants(settings);
  const int64_t now = state->step, width = lazy->width;
  float* p = params + lazy->offset;
  float* m = state->exp_avg.data() + lazy->offset;
  float* v = state->exp_avg_sq.data() + lazy->offset;
#pragma omp parallel for schedule(static) if (lazy->rows * width > kElementwiseParallelThreshold)
  for (int64_t r = 0; r < lazy->rows; ++r) {
    const int64_t from = lazy->row_step[r];
    replay_row(c, lazy->scalars.data() + (from - lazy->synced_step), now - from, p + r * width, m + r * width,
               v + r * width, width);
    lazy->row_step[r] = now;
  }
  lazy->scalars.clear();
  lazy->synced_step = now;
}

void optimizer_catch_up_rows(const OptimizerSettings& settings, float* params, OptimizerState* state, LazyRows* lazy,
                             const int64_t* rows, int64_t count) {
  if (!lazy->enabled || lazy->synced_step == state->step) return;
  const AdamWConstants c = adamw_constants(settings);
  const int64_t now = state->step, width = lazy->width;
  // Each row once (marking it current as it is listed), then the replays, split across threads by row.
  std::vector<int64_t>& behind = lazy->pending_from;  // (rows behind, 2): row, the step it is current through
  behind.clear();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t r = rows[i];
    if (lazy->row_step[r] == now) continue;
    behind.push_back(r);
    behind.push_back(lazy->row_step[r]);
    lazy->row_step[r] = now;
  }
  const int64_t n_behind = static_cast<int64_t>(behind.size() / 2);
  float* m = state->exp_avg.data();
  float* v = state->exp_avg_sq.data();
#pragma omp parallel for schedule(static) if (n_behind * width > kElementwiseParallelThreshold / 4)
  for (int64_t i = 0; i < n_behind; ++i) {
    const size_t at = lazy->offset + static_cast<size_t>(behind[2 * i] * width);
    const int64_t from = behind[2 * i + 1];
    replay_row(c, lazy->scalars.data() + (from - lazy->synced_step), now - from, params + at, m + at, v + at, width);
  }
}

void optimizer_step_lazy(const OptimizerSettings& settings, double lr, float* params, const float* grads,
                         OptimizerState* state, size_t n, LazyRows* lazy, const int64_t* touched, int64_t count) {
  if (!lazy->enabled) {
    optimizer_step(settings, lr, params, grads, state, n);
    return;
  }
  // The table of step scalars stays bounded (16 K steps, 256 KiB) however rarely the caller syncs.
  if (lazy->scalars.size() >= (size_t{1} << 14)) optimizer_sync(settings, params, state, lazy);
  const int64_t t = ++state->step;
  const AdamWConstants c = adamw_constants(settings);
  const AdamWStepScalars s = adamw_scalars(settings, lr, t);
  lazy->scalars.push_back(s);
  float* m = state->exp_avg.data();
  float* v = state->exp_avg_sq.data();
  // Dense parameters: everything before and after the block.
  const size_t block_end = lazy->offset + static_cast<size_t>(lazy->rows * lazy->width);
  adamw_range(c, s, params, grads, m, v, static_cast<int64_t>(lazy->offset));
  adamw_range(c, s, params + block_end, grads + block_end, m + block_end, v + block_end,
              static_cast<int64_t>(n - block_end));
  // Touched rows, each once: catch up on the steps it missed, then this step with its gradient.
  const size_t first_new = lazy->pending.size();
  std::vector<int64_t>& rows = lazy->pending;
  std::vector<int64_t>& from_step = lazy->pending_from;  // (new rows,) the step each was current through
  from_step.clear();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t r = touched[i];
    if (lazy->row_step[r] == t) continue;
    rows.push_back(r);
    from_step.push_back(lazy->row_step[r]);
    lazy->row_step[r] = t;
  }
  const int64_t width = lazy->width, n_rows = static_cast<int64_t>(rows.size() - first_new);
#pragma omp parallel for schedule(static) if (n_rows * width > kElementwiseParallelThreshold / 4)
  for (int64_t i = 0; i < n_rows; ++i) {
    const size_t at = lazy->offset + static_cast<size_t>(rows[first_new + i] * width);
    const int64_t from = from_step[i];
    replay_row(c, lazy->scalars.data() + (from - lazy->synced_step), t - 1 - from, params + at, m + at, v + at, width);
    adamw_row(c, s, params + at, grads + at, m + at, v + at, width);
  }
}

void optimizer_step(const OptimizerSettings& settings, double lr, float* params, const float* grads,
                    OptimizerState* state, size_t n) {
  const int64_t t = ++state->step;
  if (settings.kind == OptimizerKind::kAdamW)
    adamw_step(settings, lr, params, grads, state->exp_avg.data(), state->exp_avg_sq.data(), t, n);
  else
    sgd_step(settings, lr, params, grads, state->momentum_buffer.empty() ? nullptr : state->momentum_buffer.data(), t,
             n);
}

}  // namespace bilmod
