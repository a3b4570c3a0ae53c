// The interventions' formulas on hand-made values (docs/MODELS.md "Interventions and measures"): grokfast EMA and
// MA, OrthoGrad, Omnigrok's init scale and fixed norm, StableMax, float64 cross-entropy, MSE, softmax collapse and the Fourier IPR.
// tests/parity/test_parity_interventions.py runs them against PyTorch inside training.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/loss.h"
#include "optim/fixed_norm.h"
#include "optim/grokfast.h"
#include "optim/orthograd.h"
#include "train/fourier_ipr.h"
#include "config/run_config.h"

namespace bilmod {
namespace {

TEST(Grokfast, EmaStartsAsTheFirstGradientAndAmplifies) {
  GrokfastSettings s;
  s.kind = GrokfastKind::kEma;
  s.alpha = 0.5;
  s.lamb = 2.0;
  GrokfastState state;
  state.reset(s, 2);
  std::vector<float> g = {4.0f, -2.0f};
  grokfast_apply(s, &state, g.data(), 2);
  // state = 4*0.5 + 4*0.5 = 4; g = 4 + 2*4 = 12.
  EXPECT_EQ(state.ema, (std::vector<float>{4.0f, -2.0f}));
  EXPECT_EQ(g, (std::vector<float>{12.0f, -6.0f}));
  g = {0.0f, 2.0f};
  grokfast_apply(s, &state, g.data(), 2);
  // state = 4*0.5 + 0*0.5 = 2, -2*0.5 + 2*0.5 = 0; g = 0 + 4, 2 + 0.
  EXPECT_EQ(state.ema, (std::vector<float>{2.0f, 0.0f}));
  EXPECT_EQ(g, (std::vector<float>{4.0f, 2.0f}));
  EXPECT_EQ(state.steps, 2);
}

TEST(Grokfast, MaWaitsForAFullWindowThenAddsItsMean) {
  GrokfastSettings s;
  s.kind = GrokfastKind::kMa;
  s.window = 3;
  s.lamb = 5.0;
  GrokfastState state;
  state.reset(s, 1);
  std::vector<float> g = {1.0f};
  grokfast_apply(s, &state, g.data(), 1);
  EXPECT_EQ(g[0], 1.0f);  // not full: unchanged
  g = {2.0f};
  grokfast_apply(s, &state, g.data(), 1);
  EXPECT_EQ(g[0], 2.0f);
  g = {6.0f};
  grokfast_apply(s, &state, g.data(), 1);
  EXPECT_EQ(g[0], 6.0f + 5.0f * 3.0f);  // mean(1, 2, 6) = 3
  g = {-2.0f};
  grokfast_apply(s, &state, g.data(), 1);
  EXPECT_EQ(g[0], -2.0f + 5.0f * 2.0f);  // the oldest (1) left: mean(2, 6, -2) = 2; raw gradients are kept
  EXPECT_EQ(grokfast_state_bytes(s, 10), 3u * 10u * 4u);
}

TEST(Grokfast, MaStateOverTheLimitIsRefused) {
  RunConfig c;
  c.model = ModelKind::kBilinear;  // 1.29 M parameters: a window of 1000 is 5.2 GB
  c.grokfast = GrokfastKind::kMa;
  c.grokfast_window = 1000;
  const Status s = c.validate();
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_NE(s.message().find("over the limit"), std::string::npos) << s.message();
  c.grokfast_window = 100;
  EXPECT_TRUE(c.validate()) << c.validate().message();
  EXPECT_EQ(c.grokfast_settings().lamb, 5.0);  // grokfast.py's default for MA
  c.grokfast = GrokfastKind::kEma;
  EXPECT_EQ(c.grokfast_settings().lamb, 2.0);
}

TEST(OrthoGrad, RemovesTheComponentAlongTheWeightsAndKeepsTheNorm) {
  const std::vector<float> w = {1.0f, 0.0f};
  std::vector<float> g = {1.0f, 1.0f};
  orthograd_tensor(w.data(), g.data(), 2);
  // g_orth = (0, 1), rescaled by sqrt(2) / 1.
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_FLOAT_EQ(g[1], std::sqrt(2.0f));
  // Zero weights: the gradient is kept (w.w + 1e-30 keeps the projection finite).
  const std::vector<float> zero = {0.0f, 0.0f};
  g = {3.0f, -4.0f};
  orthograd_tensor(zero.data(), g.data(), 2);
  EXPECT_EQ(g, (std::vector<float>{3.0f, -4.0f}));
}

TEST(Omnigrok, InitScaleAndNormRestore) {
  std::vector<float> p = {1.5f, -2.0f};
  scale_parameters(p.data(), p.size(), 2.0);  // (3, -4): norm 5
  EXPECT_EQ(p, (std::vector<float>{3.0f, -4.0f}));
  restore_norm(p.data(), p.size(), 5.0, 10.0);  // one factor, 10 / 5, for the whole vector
  EXPECT_EQ(p, (std::vector<float>{6.0f, -8.0f}));
  std::vector<float> zero = {0.0f, 0.0f};
  restore_norm(zero.data(), zero.size(), 0.0, 10.0);  // no direction to rescale along: left as it is
  EXPECT_EQ(zero, (std::vector<float>{0.0f, 0.0f}));
  RunConfig c;
  for (double bad : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    c.init_scale = bad;
    EXPECT_FALSE(c.validate()) << bad;
  }
  c.init_scale = 0.5;
  EXPECT_TRUE(c.validate());
}

TEST(Loss, StableMaxOnHandMadeLogits) {
  EXPECT_EQ(stablemax_s(2.0), 3.0);
  EXPECT_EQ(stablemax_s(0.0), 1.0);
  EXPECT_DOUBLE_EQ(stablemax_s(-1.0), 0.5);
  const std::vector<float> logits = {2.0f, -1.0f, 0.0f};  // s = 3, 0.5, 1; sum 4.5
  const int32_t label = 1;
  double loss = 0;
  uint8_t correct = 1;
  std::vector<float> d(3);
  LossSettings s;
  s.kind = LossKind::kStableMax;
  compute_loss(s, logits.data(), &label, 1, 3, 1.0f, d.data(), &loss, &correct);
  EXPECT_DOUBLE_EQ(loss, -std::log(0.5 / 4.5));
  EXPECT_EQ(correct, 0);
  // d/dx_c = s'(x_c)/S - [c == y] s'(x_y)/s_y with s' = 1 (x >= 0), s^2 (x < 0).
  EXPECT_FLOAT_EQ(d[0], static_cast<float>(1 / 4.5));
  EXPECT_FLOAT_EQ(d[1], static_cast<float>(0.25 / 4.5 - 0.25 / 0.5));
  EXPECT_FLOAT_EQ(d[2], static_cast<float>(1 / 4.5));
}

TEST(Loss, Float64CrossEntropyAndMse) {
  const std::vector<float> logits = {1.0f, 3.0f, 0.0f};
  const int32_t label = 1;
  double loss = 0;
  std::vector<float> d(3);
  LossSettings s;
  s.float64 = true;
  compute_loss(s, logits.data(), &label, 1, 3, 0.5f, d.data(), &loss, nullptr);
  const double z = std::exp(1.0) + std::exp(3.0) + 1.0;
  EXPECT_NEAR(loss, std::log(z) - 3.0, 1e-15);
  EXPECT_FLOAT_EQ(d[1], static_cast<float>(0.5 * (std::exp(3.0) / z - 1)));
  EXPECT_FLOAT_EQ(d[2], static_cast<float>(0.5 / z));
  s.kind = LossKind::kMse;
  s.float64 = false;
  compute_loss(s, logits.data(), &label, 1, 3, 0.5f, d.data(), &loss, nullptr);
  // ((1-0)^2 + (3-1)^2 + 0) / 3; gradient 2 (x - y) * 0.5 / 3.
  EXPECT_DOUBLE_EQ(loss, 5.0 / 3.0);
  EXPECT_FLOAT_EQ(d[0], 1.0f / 3.0f);
  EXPECT_FLOAT_EQ(d[1], 2.0f / 3.0f);
  EXPECT_EQ(d[2], 0.0f);
}

TEST(Measures, SoftmaxCollapse) {
  const std::vector<float> collapsed = {0.0f, 200.0f, -5.0f};  // exp(-200), exp(-205) vanish next to 1 in float
  const std::vector<float> alive = {0.0f, 10.0f, -5.0f};       // exp(-10) = 4.5e-5 does not
  EXPECT_TRUE(softmax_collapsed(collapsed.data(), 3));
  EXPECT_FALSE(softmax_collapsed(alive.data(), 3));
  const std::vector<float> near = {0.0f, 17.0f};  // exp(-17) = 4.1e-8 < 2^-24: the float sum rounds to 1
  EXPECT_TRUE(softmax_collapsed(near.data(), 2));
}

// The definition, as a plain loop: the float32 sum in class order of exp(x_c - max) is exactly 1.
bool plain_softmax_collapsed(const std::vector<float>& row) {
  float max = row[0];
  for (float x : row) max = x > max ? x : max;
  float sum = 0.0f;
  for (float x : row) sum += std::exp(x - max);
  return sum == 1.0f;
}

TEST(Measures, SoftmaxCollapseMatchesThePlainSumOnRowsNearTheEdge) {
  // Rows whose other logits sit around the edge ln 2^-24 = -16.64 below the maximum, many small terms before and
  // after it, ties, a NaN: the shortcut (bounds, exps only where needed) against the plain sum, row by row.
  uint64_t state = 12345;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * 0x1p-53;
  };
  int collapsed = 0, alive = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const int P = 2 + static_cast<int>(uniform() * 120);
    std::vector<float> row(static_cast<size_t>(P));
    const int top = static_cast<int>(uniform() * P);
    const double spread = trial % 3 == 0 ? 40.0 : 4.0;
    const double centre = trial % 5 == 0 ? -25.0 : -16.64;
    for (int c = 0; c < P; ++c) row[c] = static_cast<float>(centre + spread * (uniform() - 0.5));
    row[top] = 0.0f;
    if (trial % 97 == 0) row[(top + 1) % P] = 0.0f;  // a tie with the maximum
    if (trial % 89 == 0) row[(top + 1) % P] = NAN;
    const bool want = plain_softmax_collapsed(row);
    ASSERT_EQ(softmax_collapsed(row.data(), P), want) << "trial " << trial;
    (want ? collapsed : alive) += 1;
  }
  EXPECT_GT(collapsed, 1000);  // both outcomes well represented
  EXPECT_GT(alive, 1000);
}

TEST(Measures, FourierIpr) {
  const int64_t P = 7;
  std::vector<double> cosine(P), spike(P, 0.0);
  for (int64_t a = 0; a < P; ++a) cosine[a] = std::cos(2 * M_PI * 2 * a / P);
  spike[3] = 1.0;
  const std::vector<double> e = frequency_energies(cosine);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_NEAR(e[2], P * P / 2.0, 1e-9);  // all the energy at k = 2 (Parseval: P * sum x^2 = P * P/2)
  EXPECT_NEAR(inverse_participation_ratio(e), 1.0, 1e-12);
  // A spike spreads evenly: |F_k|^2 = 1, energies 1, 2, 2, 2 -> IPR = 13 / 49.
  EXPECT_NEAR(inverse_participation_ratio(frequency_energies(spike)), 13.0 / 49.0, 1e-12);
  EXPECT_TRUE(std::isnan(inverse_participation_ratio({0.0, 0.0})));
  // Even P: the Nyquist frequency counts once; Parseval holds for any vector.
  const int64_t Q = 8;
  std::vector<double> nyquist(Q), any(Q);
  for (int64_t a = 0; a < Q; ++a) nyquist[a] = a % 2 ? -1.0 : 1.0, any[a] = 0.3 * a - 1.0 + (a == 5 ? 2.0 : 0.0);
  const std::vector<double> en = frequency_energies(nyquist);
  ASSERT_EQ(en.size(), 5u);
  EXPECT_NEAR(en[4], Q * Q, 1e-9);
  EXPECT_NEAR(inverse_participation_ratio(en), 1.0, 1e-12);
  double energy = 0, norm = 0;
  for (double e2 : frequency_energies(any)) energy += e2;
  for (double x : any) norm += x * x;
  EXPECT_NEAR(energy, Q * norm, 1e-9);
}

TEST(Measures, FourierIprOfAFactoredModelAndNoneForBilinear) {
  ModelSpec spec;
  spec.kind = ModelKind::kFactored;
  spec.mod_basis = 5;
  spec.hidden_dim = 2;
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params(layout.total, 0.0f);
  // Unit 0 of left: a pure frequency-1 cosine over a; everything else zero (left out).
  const ParameterInfo* left = layout.find("left.weight");
  for (int64_t a = 0; a < 5; ++a) params[left->offset + a * 2 + 0] = static_cast<float>(std::cos(2 * M_PI * a / 5));
  EXPECT_NEAR(mean_input_fourier_ipr(spec, layout, params.data()), 1.0, 1e-6);
  spec.kind = ModelKind::kBilinear;
  const ParameterLayout bilinear = make_parameter_layout(spec);
  std::vector<float> b(bilinear.total, 1.0f);
  EXPECT_TRUE(std::isnan(mean_input_fourier_ipr(spec, bilinear, b.data())));
}

}  // namespace
}  // namespace bilmod
