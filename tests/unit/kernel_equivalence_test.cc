// The tuned kernels (register tiles, vector exp) against the plain loops they replace: bitwise equal on random
// inputs of awkward sizes, for any thread count. The plain loops below are the seed engine's kernels verbatim.
#include <gtest/gtest.h>

// GCC 12 warns inside its own AVX-512 headers (their _mm512_undefined_* placeholders) wherever they are inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cmath>
#include <cstring>
#include <string>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/cross_entropy.h"
#include "model/kernels.h"
#include "model/model_spec.h"
#include "model/network.h"
#include "model/output_layer.h"
#include "model/subnormal_grid.h"
#include "util/subnormal_watch.h"
#include "test_support.h"
#include "model/vector_exp.h"
#include "train/evaluate.h"
#include "util/rng.h"

namespace bilmod {
namespace {

std::vector<float> random_vector(size_t n, uint64_t seed, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (2.0f * random_unit_float(seed, i) - 1.0f) * scale;
  return v;
}

void plain_output_forward(float* logits, const float* hidden, const float* w, const float* bias, int64_t n, int64_t H,
                          int64_t P) {
  for (int64_t e = 0; e < n; ++e) {
    float* out = logits + e * P;
    std::fill(out, out + P, 0.0f);
    for (int64_t k = 0; k < H; ++k) axpy(out, hidden[e * H + k], w + k * P, P);
    if (bias) add_into(out, bias, P);
  }
}

void plain_output_backward(float* dhidden, float* dw, float* dbias, const float* dlogits, const float* hidden,
                           const float* w, int64_t n, int64_t H, int64_t P) {
  for (int64_t k = 0; k < H; ++k)
    for (int64_t e = 0; e < n; ++e) axpy(dw + k * P, hidden[e * H + k], dlogits + e * P, P);
  for (int64_t e = 0; e < n; ++e)
    for (int64_t k = 0; k < H; ++k) {
      float sum = 0.0f;  // over the classes in order
      for (int64_t c = 0; c < P; ++c) sum = std::fma(dlogits[e * P + c], w[k * P + c], sum);
      dhidden[e * H + k] = sum;
    }
  if (dbias)
    for (int64_t e = 0; e < n; ++e) add_into(dbias, dlogits + e * P, P);
}

void plain_cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t P, float grad_scale,
                         float* dlogits, double* loss, uint8_t* correct) {
  for (int64_t e = 0; e < n; ++e) {
    const float* row = logits + e * P;
    int64_t argmax = 0;
    for (int64_t c = 1; c < P; ++c)
      if (row[c] > row[argmax]) argmax = c;
    const float max_logit = row[argmax];
    const float label_logit = row[labels[e]];
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
}

template <typename T>
void expect_bitwise(const std::vector<T>& want, const std::vector<T>& got, const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&want[i], &got[i], sizeof(T)) != 0) {
      FAIL() << what << ": element " << i << " differs: " << want[i] << " (plain) vs " << got[i] << " (tuned)";
    }
}

struct Shape {
  int64_t n, H, P;
};
const Shape kShapes[] = {{128, 100, 113}, {130, 100, 113}, {7, 13, 5},    {33, 17, 40},
                         {1, 1, 1},       {5, 9, 16},      {64, 100, 97}, {3830, 100, 113}};

TEST(KernelEquivalence, OutputForwardMatchesPlainLoops) {
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    for (const Shape& s : kShapes) {
      const auto hidden = random_vector(s.n * s.H, 1, 1.0f), w = random_vector(s.H * s.P, 2, 0.3f);
      const auto bias = random_vector(s.P, 3, 0.3f);
      for (const float* b : {bias.data(), static_cast<const float*>(nullptr)}) {
        std::vector<float> want(s.n * s.P), got(s.n * s.P);
        plain_output_forward(want.data(), hidden.data(), w.data(), b, s.n, s.H, s.P);
        output_forward(got.data(), hidden.data(), w.data(), b, s.n, s.H, s.P);
        expect_bitwise(want, got, "logits");
      }
    }
  }
  set_threads(1);
}

// Units whose output weights are all below 2^-24 ("silent": weight decay leaves them at ~1e-26 late in a run) have
// their activations below 2^-126 read as zero (output_layer.cc). Every logit keeps its value (bitwise, or both zero:
// a zero sum may change sign) and the softmax, loss and argmax downstream are bitwise the same. Also what must not be
// dropped: a loud unit's subnormal h (w = 1, 2^-23), a silent unit's normal h, each alone in its example so that the
// logits are exactly those products.
TEST(KernelEquivalence, OutputForwardReadsSilentUnitsAsZeroWithoutChangingAValue) {
  const int64_t n = 40, H = 24, P = 113;
  auto hidden = random_vector(n * H, 11, 1.0f), w = random_vector(H * P, 12, 0.3f);
  const auto bias = random_vector(P, 13, 0.3f);
  for (const int64_t k : {3, 10, 23})  // silent units
    for (int64_t c = 0; c < P; ++c) w[k * P + c] = (c % 2 ? 1.0f : -1.0f) * 1e-26f * static_cast<float>(c + 1);
  for (int64_t c = 0; c < P; ++c)
    w[10 * P + c] = (c % 3 ? 1.0f : -1.0f) * 0x1p-30f * (1.0f + static_cast<float>(c) / 128);
  for (int64_t c = 0; c < P; ++c) w[5 * P + c] = 1.0f, w[6 * P + c] = (c % 2 ? 0x1p-23f : -0x1p-23f);  // loud
  const float tiny[] = {1e-40f, -3e-42f, 1.4e-45f, -0.0f, 0.0f, 1.1e-38f};
  for (int64_t e = 0; e < n; ++e) {
    for (const int64_t k : {3, 23}) hidden[e * H + k] = e % 5 == 4 ? 0.5f : tiny[(e + k) % 6];
    hidden[e * H + 10] = tiny[e % 6];
  }
  auto only = [&](int64_t e, int64_t k, float x) {  // example e: unit k alone
    for (int64_t j = 0; j < H; ++j) hidden[e * H + j] = 0.0f;
    hidden[e * H + k] = x;
  };
  only(0, 5, 1e-40f);      // loud unit, subnormal h: logits = h exactly
  only(1, 10, 0x1p-101f);  // silent unit, normal h: products ~2^-131, subnormal and kept
  only(2, 6, -1.1e-38f);   // loud unit just above the bound (2^-23): products ~2^-149, kept
  only(3, 3, 1e-40f);      // silent unit, subnormal h alone: logits +-0
  only(4, 3, 0.0f);        // nothing: logits +0
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      std::vector<float> want(n * P), got(n * P);
      plain_output_forward(want.data(), hidden.data(), w.data(), b, n, H, P);
      output_forward(got.data(), hidden.data(), w.data(), b, n, H, P);
      for (int64_t i = 0; i < n * P; ++i)
        if (std::memcmp(&want[i], &got[i], 4) != 0 && !(want[i] == 0.0f && got[i] == 0.0f))
          FAIL() << "logits[" << i << "] (example " << i / P << "): " << want[i] << " vs " << got[i];
      if (b == nullptr) {
        ASSERT_NE(want[0 * P + 7], 0.0f);  // the kept products really are in the logits
        ASSERT_NE(want[1 * P + 7], 0.0f);
        ASSERT_NE(want[2 * P + 7], 0.0f);
      }
      std::vector<int32_t> labels(n);
      for (int64_t e = 0; e < n; ++e) labels[e] = static_cast<int32_t>((e * 7) % P);
      std::vector<float> d_want(n * P), d_got(n * P);
      std::vector<double> l_want(n), l_got(n);
      std::vector<uint8_t> c_want(n), c_got(n);
      cross_entropy(want.data(), labels.data(), n, P, 0.025f, d_want.data(), l_want.data(), c_want.data());
      cross_entropy(got.data(), labels.data(), n, P, 0.025f, d_got.data(), l_got.data(), c_got.data());
      expect_bitwise(d_want, d_got, "dlogits");
      expect_bitwise(l_want, l_got, "loss");
      expect_bitwise(c_want, c_got, "correct");
    }
  }
  set_threads(1);
}

// dL/dh formed as integer arithmetic on the 2^-149 grid in double (subnormal_grid.h) against the float FMA chain in
// the kernels' order, bit for bit: subnormal, normal and zero gradients of both signs, weights from 2^-140 to 4 (zeros
// of both signs too), ties (products of exactly half a unit), chains that leave the grid for the normal range (and
// those that come back), NaN and infinite inputs.
TEST(KernelEquivalence, SumsOnTheSubnormalGridMatchTheFloatChain) {
  const int64_t P = 113, H = 37;
  int64_t left_grid = 0;
  for (uint64_t trial = 0; trial < 400; ++trial) {
    std::vector<float> w(P * H), d(P);
    const int scale = static_cast<int>(random_below(70, trial, 4));  // the weights' spread
    for (int64_t i = 0; i < P * H; ++i) {
      const float u = 2.0f * random_unit_float(71 + trial, i) - 1.0f;
      const int kind = static_cast<int>(random_below(72 + trial, i, 10));
      w[i] = kind == 0   ? 0.0f
             : kind == 1 ? -0.0f
             : kind == 2 ? 0.5f
             : kind == 3 ? -1.5f
                         : std::ldexp(u, -static_cast<int>(random_below(73 + trial, i,
                                                                        scale == 0   ? 3
                                                                        : scale == 1 ? 30
                                                                                     : 140)));
    }
    for (int64_t c = 0; c < P; ++c) {
      const int kind = static_cast<int>(random_below(74 + trial, c, 8));
      const int units = static_cast<int>(random_below(75 + trial, c,
                                                      trial % 3 == 0   ? 4
                                                      : trial % 3 == 1 ? 1 << 14
                                                                       : 1 << 20));
      float x = std::ldexp(static_cast<float>(units), -149);  // an integer number of units
      if (kind == 0) x = 0.0f;
      if (kind == 1) x = -0.0f;
      if (kind == 2) x = std::ldexp(1.0f, -149);  // one unit: with w = 0.5, a tie
      if (kind == 3 && trial % 5 == 4) x = std::ldexp(1.0f + static_cast<float>(c), -100);  // normal: off the grid
      if (random_below(76 + trial, c, 2)) x = -x;
      d[c] = x;
    }
    if (trial == 398) w[5 * H + 3] = NAN;
    if (trial == 399) d[7] = INFINITY;
    std::vector<float> want(H), got(H);
    for (int64_t k = 0; k < H; ++k) {
      float acc = 0.0f, largest = 0.0f;
      for (int64_t c = 0; c < P; ++c) largest = std::max(largest, std::abs(acc = std::fma(d[c], w[c * H + k], acc)));
      want[k] = acc;
      left_grid += largest >= std::ldexp(1.0f, -125);
    }
    const std::vector<double> w_double(w.begin(), w.end());
    dhidden_on_grid(d.data(), w.data(), w_double.data(), P, H, got.data());
    for (int64_t k = 0; k < H; ++k)
      ASSERT_EQ(std::memcmp(&want[k], &got[k], 4), 0)
          << "trial " << trial << " k " << k << ": " << want[k] << " (float chain) vs " << got[k] << " (grid)";
  }
  EXPECT_GT(left_grid, 500);  // chains that leave the grid are exercised too
}

// output_backward when some units have faded (output weights of 1e-33 and less, as late in a run): the first call
// meets subnormal operands and the calls after it form those units' dL/dh on the integer grid (rows whose gradients
// are small) or by the float chain (rows whose sums leave the grid); every call's dhidden, dweight and dbias against
// plain loops, bit for bit, at 1-3 threads; with the detour forced on and off (which one runs by default is measured
// on the processor at hand, util/subnormal_watch.h).
using FadedUnits = EachDetourPolicy;
INSTANTIATE_TEST_SUITE_P(KernelEquivalence, FadedUnits,
                         ::testing::Values(DetourPolicy::kAlways, DetourPolicy::kNever, DetourPolicy::kMeasure));
TEST_P(FadedUnits, OutputBackwardMatchesPlainLoops) {
  const int64_t n = 130, H = 100, P = 113;
  const auto hidden = random_vector(n * H, 81, 1.0f);
  auto w = random_vector(H * P, 82, 0.5f), dlogits = random_vector(n * P, 83, 0.01f);
  for (int64_t k = 0; k < H; k += 3)  // faded units (weight_t is (H, P): row k)
    for (int64_t c = 0; c < P; ++c) w[k * P + c] *= k % 2 ? 2e-33f : 3e-38f;
  for (int64_t e = 0; e < n; e += 2)  // confident examples: small gradients, whose sums stay on the grid
    for (int64_t c = 0; c < P; ++c) dlogits[e * P + c] *= e % 4 ? 1e-7f : 1e-12f;
  // The switch a run's activations hold (model/output_layer.h): its calls watch, or not, as the policy says.
  const std::shared_ptr<SubnormalWatch> watch = make_faded_units_watch();
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    for (int call = 0; call < 3; ++call) {
      std::vector<float> dh_want(n * H), dh_got(n * H), dw_want(H * P, 0.0f), dw_got(H * P, 0.0f);
      std::vector<float> db_want(P, 0.0f), db_got(P, 0.0f);
      plain_output_backward(dh_want.data(), dw_want.data(), db_want.data(), dlogits.data(), hidden.data(), w.data(), n,
                            H, P);
      output_backward(dh_got.data(), dw_got.data(), db_got.data(), dlogits.data(), hidden.data(), w.data(), n, H, P,
                      nullptr, watch.get());
      expect_bitwise(dh_want, dh_got, "dhidden");
      expect_bitwise(dw_want, dw_got, "dweight");
      expect_bitwise(db_want, db_got, "dbias");
    }
  }
  set_threads(1);
}

TEST(KernelEquivalence, OutputBackwardMatchesPlainLoops) {
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    for (const Shape& s : kShapes) {
      const auto hidden = random_vector(s.n * s.H, 4, 1.0f), w = random_vector(s.H * s.P, 5, 0.3f);
      const auto dlogits = random_vector(s.n * s.P, 6, 0.01f);
      // Gradients accumulate: start from non-zero buffers, as gradient accumulation does.
      auto dw_want = random_vector(s.H * s.P, 7, 0.001f), db_want = random_vector(s.P, 8, 0.001f);
      auto dw_got = dw_want, db_got = db_want;
      std::vector<float> dh_want(s.n * s.H), dh_got(s.n * s.H);
      plain_output_backward(dh_want.data(), dw_want.data(), db_want.data(), dlogits.data(), hidden.data(), w.data(),
                            s.n, s.H, s.P);
      output_backward(dh_got.data(), dw_got.data(), db_got.data(), dlogits.data(), hidden.data(), w.data(), s.n, s.H,
                      s.P);
      expect_bitwise(dw_want, dw_got, "dweight");
      expect_bitwise(db_want, db_got, "dbias");
      expect_bitwise(dh_want, dh_got, "dhidden");
    }
  }
  set_threads(1);
}

TEST(KernelEquivalence, CrossEntropyMatchesPlainLoops) {
  for (int threads : {1, 2}) {
    set_threads(threads);
    for (const Shape& s : kShapes) {
      for (float scale : {0.5f, 8.0f, 60.0f}) {  // 60: differences past -88, glibc's special range
        auto logits = random_vector(s.n * s.P, 9, scale);
        if (s.n > 3 && s.P > 3) {
          logits[1 * s.P + 2] = std::numeric_limits<float>::quiet_NaN();  // a diverged row
          logits[2 * s.P + 0] = -0.0f, logits[2 * s.P + 1] = 0.0f;        // signed zeros
          for (int64_t c = 0; c < s.P; ++c) logits[3 * s.P + c] = 1.5f;   // ties: lowest index
        }
        std::vector<int32_t> labels(s.n);
        for (int64_t e = 0; e < s.n; ++e) labels[e] = static_cast<int32_t>((e * 7) % s.P);
        std::vector<float> d_want(s.n * s.P), d_got(s.n * s.P);
        std::vector<double> l_want(s.n), l_got(s.n);
        std::vector<uint8_t> c_want(s.n), c_got(s.n);
        const float g = 1.0f / static_cast<float>(s.n);
        plain_cross_entropy(logits.data(), labels.data(), s.n, s.P, g, d_want.data(), l_want.data(), c_want.data());
        cross_entropy(logits.data(), labels.data(), s.n, s.P, g, d_got.data(), l_got.data(), c_got.data());
        expect_bitwise(d_want, d_got, "dlogits");
        expect_bitwise(l_want, l_got, "loss");
        expect_bitwise(c_want, c_got, "correct");
        // In place (dlogits aliasing logits), as training calls it.
        auto in_place = logits;
        cross_entropy(in_place.data(), labels.data(), s.n, s.P, g, in_place.data(), l_got.data(), nullptr);
        expect_bitwise(d_want, in_place, "dlogits in place");
      }
    }
  }
  set_threads(1);
}

// The whole backward pass (output layer, activation derivative, scatter into the selected input rows) against
// plain loops: every gradient element sums its examples in order, so the result is bitwise the same at 1-3 threads,
// where the scatter splits each destination row between threads at cache-line boundaries of that row. Batches of
// 3830 (the full batch at P = 113, train fraction 0.3) and 130 pairs with repeats, so rows are hit many times; ReLU
// models with units that never fire (their dL/dh is skipped) and one that fires for few examples (it is not).
void plain_network_backward(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                            const std::vector<int64_t>& pairs, const BatchActivations& act,
                            const std::vector<float>& dlogits, std::vector<float>* grads) {
  const int64_t n = static_cast<int64_t>(pairs.size()), H = spec.hidden_dim, P = spec.mod_basis;
  const ParameterViews w = parameter_views(spec, layout, const_cast<float*>(params.data()));
  const ParameterViews g = parameter_views(spec, layout, grads->data());
  std::vector<float> dhidden(n * H);
  plain_output_backward(dhidden.data(), g.output_weight, g.output_bias, dlogits.data(), act.hidden.data(),
                        w.output_weight, n, H, P);
  for (int64_t e = 0; e < n; ++e) {
    const int64_t a = pairs[e] / P, b = pairs[e] % P;
    for (int64_t k = 0; k < H; ++k) {
      const int64_t i = e * H + k;
      const float z = act.pre_a[i], dh = dhidden[i];
      switch (spec.kind) {
        case ModelKind::kBilinear:
          g.input_a[pairs[e] * H + k] += z > 0.0f ? dh : 0.0f;
          g.input_bias[k] += z > 0.0f ? dh : 0.0f;
          break;
        case ModelKind::kFactored: {
          const float dl = dh * act.pre_b[i], dr = dh * z;
          g.input_a[a * H + k] += dl;
          g.input_a[(P + b) * H + k] += dl;
          g.input_b[a * H + k] += dr;
          g.input_b[(P + b) * H + k] += dr;
          break;
        }
        case ModelKind::kMlp: {
          const float dz = spec.activation == Activation::kRelu ? (z > 0.0f ? dh : 0.0f) : dh * (2.0f * z);
          g.input_a[a * H + k] += dz;
          g.input_a[(P + b) * H + k] += dz;
          g.input_bias[k] += dz;
          break;
        }
        case ModelKind::kTransformer:  // not one-hot gather models: their own tests
        case ModelKind::kClockPizza:
          break;
      }
    }
  }
}

TEST(KernelEquivalence, NetworkBackwardMatchesPlainLoopsAtAnyThreadCount) {
  const ModelSpec specs[] = {{ModelKind::kBilinear, 113, 100, Activation::kRelu},
                             {ModelKind::kFactored, 113, 100, Activation::kRelu},
                             {ModelKind::kMlp, 113, 100, Activation::kRelu},
                             {ModelKind::kMlp, 31, 37, Activation::kQuad}};
  for (const ModelSpec& spec : specs) {
    const ParameterLayout layout = make_parameter_layout(spec);
    std::vector<float> params(layout.total);
    init_parameters(spec, layout, 3, params.data());
    const ParameterViews pv = parameter_views(spec, layout, params.data());
    if (pv.input_bias != nullptr && spec.activation == Activation::kRelu) {
      // ReLU units that fire for no example (output_backward then skips their dL/dh) with output weights decayed
      // to ~1e-36, as late in a run (their products with dlogits are subnormal); and a unit that fires only where
      // the first input row is selected, which must not be skipped.
      const int64_t H = spec.hidden_dim, P = spec.mod_basis;
      for (const int64_t k : {int64_t{5}, H - 1}) {
        pv.input_bias[k] = -1e3f;
        for (int64_t c = 0; c < P; ++c) pv.output_weight[k * P + c] = 1e-36f * static_cast<float>(c + 1);
      }
      pv.input_bias[7] = -1e3f;
      pv.input_a[0 * H + 7] = 2e3f;
    }
    for (int64_t n : {int64_t{3830}, int64_t{130}}) {
      SCOPED_TRACE(model_kind_name(spec.kind) + " n = " + std::to_string(n));
      std::vector<int64_t> pairs(n);
      std::vector<int32_t> labels(n);
      for (int64_t e = 0; e < n; ++e) {
        // Distinct pairs for the seed model (a full batch visits each once), repeated rows for the others.
        pairs[e] = spec.kind == ModelKind::kBilinear
                       ? (e * 37) % (spec.mod_basis * spec.mod_basis)  // pair 0 at e = 0
                       : static_cast<int64_t>(random_unit_float(31, e) * 0.999f *
                                              static_cast<float>(spec.mod_basis * spec.mod_basis));
        labels[e] = static_cast<int32_t>((e * 5) % spec.mod_basis);
      }
      const auto start = random_vector(layout.total, 32, 0.001f);  // gradients accumulate onto what is there
      std::vector<float> want = start;
      std::vector<double> loss(n);
      for (int threads : {1, 2, 3}) {
        set_threads(threads);
        BatchActivations act;
        network_forward(spec, layout, params.data(), pairs.data(), n, &act);
        cross_entropy(act.logits.data(), labels.data(), n, spec.mod_basis, 1.0f / static_cast<float>(n),
                      act.logits.data(), loss.data(), nullptr);
        if (threads == 1) {
          const std::vector<float> dlogits(act.logits.begin(), act.logits.begin() + n * spec.mod_basis);
          plain_network_backward(spec, layout, params, pairs, act, dlogits, &want);
        }
        std::vector<float> got = start;
        network_backward(spec, layout, params.data(), pairs.data(), n, &act, got.data());
        SCOPED_TRACE(std::to_string(threads) + " threads");
        expect_bitwise(want, got, "gradient");
      }
    }
  }
  set_threads(1);
}

// l2_norm (blocked, split across threads): the same bits for any thread count, and the norm to double precision.
TEST(KernelEquivalence, L2NormIsThreadInvariantAndAccurate) {
  for (size_t n : {0u, 1u, 15u, 16u, 17u, 1000u, 4097u, 130001u, 1300000u}) {
    auto x = random_vector(n, 21, 3.0f);
    for (size_t i = 0; i < n; ++i)
      if (random_unit_float(22, i / 40) < 0.7f) x[i] = (i % 3 == 0) ? -0.0f : 0.0f;  // runs of (signed) zeros
    long double exact = 0;
    for (size_t i = 0; i < n; ++i) exact += static_cast<long double>(x[i]) * static_cast<long double>(x[i]);
    const double want = static_cast<double>(std::sqrt(exact));
    set_threads(1);
    const double one = l2_norm(x.data(), n);
    EXPECT_NEAR(one, want, 1e-14 * want) << "n = " << n;
    for (int threads : {2, 3}) {
      set_threads(threads);
      const double got = l2_norm(x.data(), n);
      EXPECT_EQ(std::memcmp(&one, &got, sizeof one), 0)
          << n << " at " << threads << " threads: " << one << " vs " << got;
    }
  }
  set_threads(1);
}

#ifdef BILMOD_VECTOR_EXP
// The vector exp against the C library on a sample of every range, NaN and infinities included (every float in
// [-104, 89]: vector_exp_exhaustive_test.cc): a C library with another expf fails here.
TEST(VectorExp, MatchesTheCLibraryBitwise) {
  alignas(64) float xs[16], ys[16];
  uint64_t checked = 0;
  auto check = [&](uint32_t bits0, uint32_t stride, uint32_t count) {
    for (uint32_t i = 0; i < count; i += 16) {
      for (int j = 0; j < 16; ++j) {
        const uint32_t bits = bits0 + (i + j) * stride;
        std::memcpy(&xs[j], &bits, 4);
      }
      _mm512_store_ps(ys, exp16(_mm512_load_ps(xs)));
      for (int j = 0; j < 16; ++j) {
        const float want = std::exp(xs[j]);
        ASSERT_EQ(std::memcmp(&want, &ys[j], 4), 0) << "exp(" << xs[j] << "): " << want << " vs " << ys[j];
        ++checked;
      }
    }
  };
  check(0x80000000u, 97, 11'000'000);  // negative floats, every 97th, down to about -1e3
  check(0x00000000u, 97, 11'000'000);  // positive, past the overflow threshold
  check(0x7f800000u, 1, 32);           // +inf and NaNs
  check(0xff800000u, 1, 32);           // -inf and NaNs
  check(0xc2cff1b0u, 1, 64);           // around log(2^-150), glibc's underflow threshold
  EXPECT_GT(checked, 20'000'000u);
}
#endif

}  // namespace
}  // namespace bilmod
