// AdamW's fast path against the reference (optim/torch_formula.h, torch's formula): the dense step (one division
// replaced by an exact double multiply), the subnormal detour and the lazy row updates (replayed zero-gradient steps),
// bit for bit, for any thread count.
#include <gtest/gtest.h>

// GCC 12 warns inside its own AVX-512 headers (their _mm512_undefined_* placeholders) wherever they are inlined, as in
// src/model/cross_entropy.cc.
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cmath>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "optim/adamw_detour.h"
#include "optim/adamw_lanes.h"
#include "optim/optimizer.h"
#include "optim/torch_formula.h"
#include "util/simd_lanes.h"
#include "util/rng.h"
#include "util/subnormal_watch.h"
#include "test_support.h"

namespace bilmod {
namespace {

void expect_bitwise(const std::vector<float>& want, const std::vector<float>& got, const char* what) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&want[i], &got[i], 4) != 0) FAIL() << what << "[" << i << "]: " << want[i] << " vs " << got[i];
}

float random_gradient(uint64_t key, uint64_t i) {
  // Magnitudes from 1e-30 to 1e3, both signs, some exact zeros: the quotients cover many binades.
  const float u = random_unit_float(key, 3 * i), w = random_unit_float(key, 3 * i + 1);
  if (random_unit_float(key, 3 * i + 2) < 0.1f) return 0.0f;
  return (u < 0.5f ? -1.0f : 1.0f) * std::pow(10.0f, -30.0f + 33.0f * w);
}

double lr_at(int64_t t) { return 3e-3 * (t % 7 == 0 ? 0.25 : 1.0) * (1.0 + 0.01 * static_cast<double>(t % 5)); }

TEST(AdamW, DenseStepMatchesTheFloatFormula) {
  OptimizerSettings s;
  const size_t n = 20000;
  std::vector<float> p(n), g(n);
  for (size_t i = 0; i < n; ++i)
    p[i] = (2.0f * random_unit_float(11, i) - 1.0f) * std::pow(10.0f, -5.0f + 6.0f * random_unit_float(12, i));
  // Some parameters subnormal, or small enough that weight decay takes them there (AdamW forms p * decay in double
  // where a lane is subnormal, to dodge the hardware's slow path: the bits must not change).
  for (size_t i = 0; i < n; i += 7) p[i] = (2.0f * random_unit_float(13, i) - 1.0f) * 1.2e-38f;
  for (size_t i = 3; i < n; i += 7) p[i] = (2.0f * random_unit_float(14, i) - 1.0f) * 3e-44f;
  std::vector<float> p_ref = p, m_ref(n, 0.0f), v_ref(n, 0.0f);
  OptimizerState state;
  state.reset(s, n);
  Optimizer fast(s, p.data(), &state, n, nullptr, OptimizerPath::kFast);
  for (int64_t t = 1; t <= 300; ++t) {
    for (size_t i = 0; i < n; ++i) g[i] = random_gradient(100 + t, i);
    adamw_torch_step(s, lr_at(t), t, p_ref.data(), g.data(), m_ref.data(), v_ref.data(), n);
    fast.step(lr_at(t), g.data());
  }
  expect_bitwise(p_ref, p, "params");
  expect_bitwise(m_ref, state.exp_avg, "exp_avg");
  expect_bitwise(v_ref, state.exp_avg_sq, "exp_avg_sq");
}

// Late in a run m, v and g of parameters that no longer matter are subnormal; the dense step then takes such vectors
// in double (every operation rounded to float at once: the float formula's bits). Steps whose inputs hold subnormal
// m and v, gradients below 2^-63 (their squares are subnormal) and exact zeros, against the float formula; with the
// double step forced on and off (which one runs by default is measured on the processor, util/subnormal_watch.h).
using SubnormalState = EachDetourPolicy;
INSTANTIATE_TEST_SUITE_P(AdamW, SubnormalState,
                         ::testing::Values(DetourPolicy::kAlways, DetourPolicy::kNever, DetourPolicy::kMeasure));
TEST_P(SubnormalState, DenseStepMatchesTheFloatFormula) {
  OptimizerSettings s;
  const size_t n = 20000;
  std::vector<float> p(n), g(n);
  for (size_t i = 0; i < n; ++i)
    p[i] = (2.0f * random_unit_float(41, i) - 1.0f) * std::pow(10.0f, -30.0f * random_unit_float(42, i));
  OptimizerState state;
  state.reset(s, n);
  for (size_t i = 0; i < n; ++i) {
    const float u = 2.0f * random_unit_float(43, i) - 1.0f;
    state.exp_avg[i] = i % 3 == 0 ? u * 1e-40f : i % 3 == 1 ? u * 1e-20f : 0.0f;
    state.exp_avg_sq[i] = i % 4 == 0 ? std::abs(u) * 1e-41f : std::abs(u) * 1e-30f;
  }
  std::vector<float> p_ref = p, m_ref = state.exp_avg, v_ref = state.exp_avg_sq;
  Optimizer fast(s, p.data(), &state, n, nullptr, OptimizerPath::kFast);
  for (int64_t t = 1; t <= 200; ++t) {
    for (size_t i = 0; i < n; ++i) {
      const float u = 2.0f * random_unit_float(200 + t, i) - 1.0f;
      const int kind = static_cast<int>(random_below(300 + t, i, 5));
      g[i] = kind == 0 ? u * 1e-42f : kind == 1 ? u * 1e-25f : kind == 2 ? 0.0f : kind == 3 ? -0.0f : u * 1e-3f;
    }
    adamw_torch_step(s, lr_at(t), t, p_ref.data(), g.data(), m_ref.data(), v_ref.data(), n);
    fast.step(lr_at(t), g.data());
  }
  expect_bitwise(p_ref, p, "params");
  expect_bitwise(m_ref, state.exp_avg, "exp_avg");
  expect_bitwise(v_ref, state.exp_avg_sq, "exp_avg_sq");
}

#if defined(BILMOD_ADAMW_LANES)
// adamw_lanes_step_in_double on 16, 8 and 4 lanes against the float formula, lane by lane, on arbitrary bit patterns
// (every binade, subnormals, zeros, infinities, NaNs) for p, m and g, and v of either sign.
template <int N>
void check_step_in_double() {
  OptimizerSettings s;
  const AdamWConstants c = adamw_constants(s);
  auto any_float = [](uint64_t key, uint64_t i) {
    const uint32_t bits = static_cast<uint32_t>(random_u64(key, i));
    float x;
    std::memcpy(&x, &bits, 4);
    // Half the draws from every bit pattern, half scaled into the range where the products are subnormal.
    return random_below(key + 1, i, 2) == 0 ? x
                                            : std::ldexp(2.0f * random_unit_float(key + 2, i) - 1.0f,
                                                         -static_cast<int>(random_below(key + 3, i, 160)));
  };
  using L = FloatLanes<N>;
  for (int64_t t = 1; t <= 2000; ++t) {
    const double lr = lr_at(t);
    const AdamWStepScalars scalars = adamw_scalars(s, lr, t);
    float p[N], g[N], m[N], v[N];
    for (int j = 0; j < N; ++j) {
      const uint64_t i = static_cast<uint64_t>(t * N + j);
      p[j] = any_float(1000, i), g[j] = any_float(2000, i), m[j] = any_float(3000, i), v[j] = any_float(4000, i);
      if (random_below(5000, i, 4) != 0) v[j] = std::abs(v[j]);
    }
    float p_ref[N], m_ref[N], v_ref[N];
    std::memcpy(p_ref, p, sizeof p), std::memcpy(m_ref, m, sizeof m), std::memcpy(v_ref, v, sizeof v);
    adamw_torch_step(s, lr, t, p_ref, g, m_ref, v_ref, N);
    const auto all = static_cast<typename L::Mask>(first_lanes(N));
    auto pv = L::load(all, p), mv = L::load(all, m), vv = L::load(all, v);
    adamw_lanes_step_in_double<N>(pv, L::load(all, g), mv, vv, c, scalars);
    L::store(p, all, pv), L::store(m, all, mv), L::store(v, all, vv);
    // Every bit, except that a NaN matches any NaN: which operand's payload and sign a NaN result carries follows
    // the order a compiler gives a commutative operation's operands (clang and GCC differ; torch promises none).
    auto same = [](float x, float y) { return std::memcmp(&x, &y, 4) == 0 || (std::isnan(x) && std::isnan(y)); };
    for (int j = 0; j < N; ++j) {
      ASSERT_TRUE(same(p[j], p_ref[j])) << N << " lanes, step " << t << ": p " << p[j] << " vs " << p_ref[j];
      ASSERT_TRUE(same(m[j], m_ref[j])) << N << " lanes, step " << t << ": m " << m[j] << " vs " << m_ref[j];
      ASSERT_TRUE(same(v[j], v_ref[j])) << N << " lanes, step " << t << ": v " << v[j] << " vs " << v_ref[j];
    }
  }
}

TEST(AdamW, StepInDoubleIsTheFloatStep) {
  check_step_in_double<16>();
  check_step_in_double<8>();
  check_step_in_double<4>();
}
#endif

// sqrt(v) / c in float == float(double(sqrt(v)) * (1/c)) for every c a run meets (steps 1..20000) and x over all
// binades, subnormals and specials included.
TEST(AdamW, ReciprocalMultiplyIsTheFloatDivision) {
  std::vector<float> xs = {0.0f, 1e-45f, 1.17549435e-38f, 3.4028235e+38f, INFINITY, 1.0f};
  for (uint64_t i = 0; i < 600; ++i) {
    uint32_t bits = static_cast<uint32_t>(random_u64(77, i)) & 0x7fffffffu;
    if ((bits >> 23) == 0xff) bits &= 0x7f7fffffu;
    float x;
    std::memcpy(&x, &bits, 4);
    xs.push_back(x);
  }
  for (int64_t t = 1; t <= 20000; ++t) {
    const float c = static_cast<float>(std::sqrt(1.0 - std::pow(0.999, static_cast<double>(t))));
    const double inv = 1.0 / static_cast<double>(c);
    for (const float x : xs) {
      const float want = x / c, got = static_cast<float>(static_cast<double>(x) * inv);
      ASSERT_EQ(std::memcmp(&want, &got, 4), 0) << x << " / " << c << " (step " << t << ")";
    }
  }
}

// Layout like the seed model's: a dense head, a (rows, width) block touched sparsely, a dense tail.
TEST(AdamW, LazyRowsMatchTheReferenceBitwise) {
  // Wide enough that a step's touched rows (up to 200 x 100) are split across threads.
  const size_t head = 37, tail = 53;
  const int64_t rows = 600, width = 100;
  const size_t n = head + static_cast<size_t>(rows * width) + tail;
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    OptimizerSettings s;
    std::vector<float> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = 2.0f * random_unit_float(5, i) - 1.0f;
    std::vector<float> p_dense = p, g(n, 0.0f);
    OptimizerState dense, lazy_state;
    dense.reset(s, n);
    lazy_state.reset(s, n);
    const SparseRows block{head, rows, width};
    Optimizer reference(s, p_dense.data(), &dense, n, &block, OptimizerPath::kReference);
    Optimizer lazy(s, p.data(), &lazy_state, n, &block, OptimizerPath::kFast);
    ASSERT_FALSE(reference.lazy());
    ASSERT_TRUE(lazy.lazy());
    for (int64_t t = 1; t <= 120; ++t) {
      lazy.zero_grad(g.data());
      for (float x : g) ASSERT_EQ(x, 0.0f);
      std::vector<int64_t> touched;
      const int64_t count = 1 + static_cast<int64_t>(random_below(9, t, 200));
      for (int64_t i = 0; i < count; ++i) touched.push_back(static_cast<int64_t>(random_below(10 + t, i, rows)));
      touched.push_back(touched.front());    // a duplicate
      if (t % 3 == 0) touched.push_back(0);  // one row touched often, one never (row rows-1 is excluded below)
      // A forward pass reads the touched rows: caught up, they equal the dense parameters of step t - 1.
      lazy.prepare_rows(touched.data(), static_cast<int64_t>(touched.size()));
      for (int64_t r : touched)
        for (int64_t j = 0; j < width; ++j) {
          const size_t at = head + static_cast<size_t>(r * width + j);
          ASSERT_EQ(std::memcmp(&p[at], &p_dense[at], 4), 0) << "row " << r << " read at step " << t;
        }
      for (size_t i = 0; i < head; ++i) g[i] = random_gradient(200 + t, i);
      for (size_t i = head + rows * width; i < n; ++i) g[i] = random_gradient(300 + t, i);
      for (int64_t r : touched) {
        if (r == rows - 1) continue;
        for (int64_t j = 0; j < width; ++j) g[head + r * width + j] += random_gradient(400 + t, r * width + j);
      }
      reference.step(lr_at(t), g.data());
      lazy.step(lr_at(t), g.data());
      if (t % 25 == 0) lazy.sync();  // evaluations now and then
    }
    lazy.sync();
    EXPECT_EQ(lazy_state.step, dense.step);
    expect_bitwise(p_dense, p, "params");
    expect_bitwise(dense.exp_avg, lazy_state.exp_avg, "exp_avg");
    expect_bitwise(dense.exp_avg_sq, lazy_state.exp_avg_sq, "exp_avg_sq");
  }
  set_threads(1);
}

// The replay skips the sqrt and the division where a vector's state is zero (m and v both +-0): signed zeros in p, m
// and v, gradients whose square underflows (v stays 0 while m does not), rows no gradient ever reaches, rows whose
// first vector has a gradient and whose others never do, and every shape a row takes in registers (16-lane vectors,
// the last one partial or not, and a 4- or 8-lane tail: widths 3, 8, 13, 16, 24, 37, 100, 112), all against the float
// formula of the seed engine, bit for bit.
TEST(AdamW, ZeroStateReplayKeepsEveryBit) {
  for (const int64_t width : {100, 37, 16, 3, 8, 13, 24, 112}) {
    const int64_t rows = 48;
    const size_t n = static_cast<size_t>(rows * width);
    OptimizerSettings s;
    std::vector<float> p(n), g(n, 0.0f);
    OptimizerState state;
    state.reset(s, n);
    const float zeros[] = {0.0f, -0.0f};
    for (size_t i = 0; i < n; ++i) {
      const int kind = static_cast<int>(random_below(21, i, 6));
      // Signed zeros, subnormals (the rows no gradient reaches end there after ~700 epochs), small normals that weight
      // decay takes into the subnormals, ordinary values.
      const float u = 2.0f * random_unit_float(22, i) - 1.0f;
      p[i] = kind < 2 ? zeros[kind] : kind == 2 ? u * 3e-44f : kind == 3 ? u * 1.3e-38f : u;
      state.exp_avg[i] = random_below(23, i, 3) == 0 ? -0.0f : 0.0f;  // a loaded state may hold -0
      state.exp_avg_sq[i] = random_below(24, i, 3) == 0 ? -0.0f : 0.0f;
    }
    std::vector<float> p_ref = p, m_ref = state.exp_avg, v_ref = state.exp_avg_sq;
    const SparseRows block{0, rows, width};
    Optimizer lazy(s, p.data(), &state, n, &block, OptimizerPath::kFast);
    for (int64_t t = 1; t <= 60; ++t) {
      lazy.zero_grad(g.data());
      // Rows 0..15 never get a gradient; rows 16..23 get -0 (which keeps m == -0 where it was); rows 24..31 get ones
      // whose square underflows to 0; the rest get ordinary ones, rows 40.. in their first 16 lanes only; each row
      // on some steps only, some lanes -0.
      std::vector<int64_t> touched;
      for (int64_t r = 16; r < rows; ++r) {
        if (random_below(25 + t, r, 4) != 0) continue;
        touched.push_back(r);
        for (int64_t j = 0; j < width; ++j) {
          if (r < 24 || (r >= 40 && j >= 16) || random_below(26 + t, r * width + j, 3) == 0) {
            g[r * width + j] = -0.0f;  // keeps m == -0 where it was: the shortcut must keep the sign
            continue;
          }
          const float sign = random_below(27 + t, r * width + j, 2) ? 1.0f : -1.0f;
          g[r * width + j] = r < 32 ? sign * 1e-30f : sign * random_unit_float(28 + t, r * width + j);
        }
      }
      lazy.prepare_rows(touched.data(), static_cast<int64_t>(touched.size()));
      adamw_torch_step(s, lr_at(t), t, p_ref.data(), g.data(), m_ref.data(), v_ref.data(), n);
      lazy.step(lr_at(t), g.data());
      if (t % 20 == 0) lazy.sync();
    }
    lazy.sync();
    expect_bitwise(p_ref, p, "params");
    expect_bitwise(m_ref, state.exp_avg, "exp_avg");
    expect_bitwise(v_ref, state.exp_avg_sq, "exp_avg_sq");
  }
}

TEST(AdamW, OnlyFastAdamWHasLazyRows) {
  OptimizerSettings s;
  s.kind = OptimizerKind::kSgd;
  OptimizerState state;
  state.reset(s, 100);
  std::vector<float> p(100, 1.0f);
  const SparseRows block{0, 10, 10};
  EXPECT_FALSE(Optimizer(s, p.data(), &state, 100, &block, OptimizerPath::kFast).lazy());
  s.kind = OptimizerKind::kAdamW;
  state.reset(s, 100);
  EXPECT_TRUE(Optimizer(s, p.data(), &state, 100, &block, OptimizerPath::kFast).lazy());
  EXPECT_FALSE(Optimizer(s, p.data(), &state, 100, &block, OptimizerPath::kReference).lazy());
}

}  // namespace
}  // namespace bilmod
