// The transformer's analysis (analysis/transformer_analysis.h) on hand-built models whose answers are known in closed
// form, and the presets (config/run_config.h apply_preset) that start its recipe.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include <Eigen/Eigenvalues>

#include "analysis/transformer_analysis.h"
#include "config/run_config.h"
#include "model/model_spec.h"

namespace bilmod {
namespace {

constexpr int64_t kP = 13, kD = 8, kHeads = 2, kHead = kD / kHeads, kMlp = 4, kFrequency = 3;

ModelSpec small_transformer(TransformerMlp mlp) {
  ModelSpec spec;
  spec.kind = ModelKind::kTransformer;
  spec.mod_basis = kP;
  spec.d_model = kD;
  spec.num_heads = kHeads;
  spec.d_mlp = kMlp;
  spec.mlp = mlp;
  return spec;
}

float& at(const ParameterLayout& layout, std::vector<float>& params, const char* name, int64_t index) {
  const ParameterInfo* info = layout.find(name);
  EXPECT_NE(info, nullptr) << name;
  return params[static_cast<size_t>(info->offset + index)];  // the transformer stores PyTorch's order
}

// W_E's rows 0 and 1 are cos and sin of frequency 3 on the tokens; W_Q = 0, so '=' attends a, b and '=' equally;
// head 0 copies residual direction 0 into direction 2; neuron 0 reads direction 2 above a bias that keeps its ReLU
// open, so its activation is 5 + (cos 3a + cos 3b) / 3: all its variance is frequency 3. Neuron 1 reads nothing.
std::vector<float> hand_built(const ModelSpec& spec, const ParameterLayout& layout) {
  std::vector<float> params(static_cast<size_t>(layout.total), 0.0f);
  for (int64_t x = 0; x < kP; ++x) {
    const double angle = 2 * std::numbers::pi * static_cast<double>(kFrequency * x) / kP;
    at(layout, params, "embed.W_E", 0 * (kP + 1) + x) = static_cast<float>(std::cos(angle));
    at(layout, params, "embed.W_E", 1 * (kP + 1) + x) = static_cast<float>(std::sin(angle));
  }
  at(layout, params, "blocks.0.attn.W_V", 0) = 1.0f;                   // head 0, d_head row 0 <- residual 0
  at(layout, params, "blocks.0.attn.W_O", 2 * kHeads * kHead) = 1.0f;  // residual 2 <- head 0's row 0
  at(layout, params, "blocks.0.mlp.W_in", 0 * kD + 2) = 1.0f;
  at(layout, params, "blocks.0.mlp.b_in", 0) = 5.0f;
  if (spec.mlp == TransformerMlp::kBilinear) at(layout, params, "blocks.0.mlp.b_in2", 0) = 1.0f;
  return params;
}

TEST(TransformerAnalysis, EmbeddingNormPeaksAtItsFrequency) {
  const ModelSpec spec = small_transformer(TransformerMlp::kRelu);
  const ParameterLayout layout = make_parameter_layout(spec);
  const TransformerAnalysis t = analyze_transformer(spec, layout, hand_built(spec, layout));
  ASSERT_EQ(t.embed_frequency_norms.size(), static_cast<size_t>(kP / 2));
  for (size_t k = 0; k < t.embed_frequency_norms.size(); ++k) {
    if (static_cast<int64_t>(k) + 1 == kFrequency)
      EXPECT_GT(t.embed_frequency_norms[k], 1.0) << "frequency " << k + 1;
    else
      EXPECT_LT(t.embed_frequency_norms[k], 1e-5) << "frequency " << k + 1;
  }
}

TEST(TransformerAnalysis, AttentionOfEqualsIsUniformWithoutQueries) {
  const ModelSpec spec = small_transformer(TransformerMlp::kRelu);
  const ParameterLayout layout = make_parameter_layout(spec);
  const TransformerAnalysis t = analyze_transformer(spec, layout, hand_built(spec, layout));
  ASSERT_EQ(t.attention.size(), static_cast<size_t>(kHeads));
  for (const auto& head : t.attention)
    for (double share : head) EXPECT_NEAR(share, 1.0 / 3, 1e-6);
}

TEST(TransformerAnalysis, NeuronFrequencyAndShareFollowItsInput) {
  const ModelSpec spec = small_transformer(TransformerMlp::kRelu);
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params = hand_built(spec, layout);
  TransformerAnalysis t = analyze_transformer(spec, layout, params);
  EXPECT_EQ(t.neuron_frequency[0], kFrequency);
  EXPECT_NEAR(t.neuron_share[0], 1.0, 1e-6);
  EXPECT_EQ(t.neuron_share[1], 0.0);  // constant: no variance to explain
  // Closing the ReLU on half the pairs adds harmonics: frequency 3 still leads, with less than all the variance.
  at(layout, params, "blocks.0.mlp.b_in", 0) = 0.0f;
  t = analyze_transformer(spec, layout, params);
  EXPECT_EQ(t.neuron_frequency[0], kFrequency);
  EXPECT_GT(t.neuron_share[0], 0.5);
  EXPECT_LT(t.neuron_share[0], 0.999);
}

TEST(TransformerAnalysis, BilinearNeuronsEigenvaluesAndFrequencies) {
  const ModelSpec spec = small_transformer(TransformerMlp::kBilinear);
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params = hand_built(spec, layout);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int64_t j = 1; j < kMlp; ++j)
    for (int64_t k = 0; k < kD; ++k) {
      at(layout, params, "blocks.0.mlp.W_in", j * kD + k) = normal(rng);
      at(layout, params, "blocks.0.mlp.W_in2", j * kD + k) = normal(rng);
    }
  // Neuron 0: u = e0, v = e1 (cos and sin of frequency 3): both eigenvectors read frequency 3 on the tokens.
  at(layout, params, "blocks.0.mlp.W_in", 0 * kD + 2) = 0.0f;
  at(layout, params, "blocks.0.mlp.W_in", 0 * kD + 0) = 1.0f;
  at(layout, params, "blocks.0.mlp.W_in2", 0 * kD + 1) = 2.0f;
  const TransformerAnalysis t = analyze_transformer(spec, layout, params);
  ASSERT_EQ(t.bilinear.size(), static_cast<size_t>(kMlp));
  EXPECT_EQ(t.bilinear[0].frequency_plus, kFrequency);
  EXPECT_EQ(t.bilinear[0].frequency_minus, kFrequency);
  EXPECT_NEAR(t.bilinear[0].share_plus, 1.0, 1e-6);
  for (int64_t j = 0; j < kMlp; ++j) {
    Eigen::VectorXd u(kD), v(kD);
    for (int64_t k = 0; k < kD; ++k)
      u[k] = at(layout, params, "blocks.0.mlp.W_in", j * kD + k),
      v[k] = at(layout, params, "blocks.0.mlp.W_in2", j * kD + k);
    const Eigen::MatrixXd q = (u * v.transpose() + v * u.transpose()) / 2;
    const Eigen::VectorXd eig = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(q).eigenvalues();  // ascending
    EXPECT_NEAR(t.bilinear[j].eigenvalue_minus, eig[0], 1e-9 * (1 + std::abs(eig[0])));
    EXPECT_NEAR(t.bilinear[j].eigenvalue_plus, eig[kD - 1], 1e-9 * (1 + std::abs(eig[kD - 1])));
    for (int64_t i = 1; i < kD - 1; ++i) EXPECT_NEAR(eig[i], 0.0, 1e-9);  // rank 2
  }
}

TEST(Preset, Nanda2023ResolvesThePapersRecipeAndExplicitFlagsWin) {
  RunConfig c;
  c.mod_basis = 59;  // given on the command line below, so it stays
  c.epochs = 7;      // not given: the preset's value replaces it
  ASSERT_TRUE(apply_preset("nanda2023", {"mod_basis"}, &c).is_ok());
  EXPECT_EQ(c.preset, "nanda2023");
  EXPECT_EQ(c.model, ModelKind::kTransformer);
  EXPECT_EQ(c.mod_basis, 59);
  EXPECT_EQ(c.epochs, 25000);
  EXPECT_DOUBLE_EQ(c.train_frac, 0.3);
  EXPECT_TRUE(c.full_batch);
  EXPECT_DOUBLE_EQ(c.learning_rate, 1e-3);
  EXPECT_DOUBLE_EQ(c.weight_decay, 1.0);
  EXPECT_DOUBLE_EQ(c.beta1, 0.9);
  EXPECT_DOUBLE_EQ(c.beta2, 0.98);
  EXPECT_EQ(c.warmup_steps, 10);
  EXPECT_EQ(c.d_model, 128);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.d_mlp, 512);
  EXPECT_TRUE(c.validate().is_ok());
}

TEST(Preset, Zhong2023ResolvesThePapersRecipeWithTheGivenAttentionRate) {
  RunConfig c;
  c.attention_rate = 0.25;  // given: --attention-rate
  c.epochs = 7;             // not given: the preset's value replaces it
  ASSERT_TRUE(apply_preset("zhong2023", {"attention_rate"}, &c).is_ok());
  EXPECT_EQ(c.model, ModelKind::kClockPizza);
  EXPECT_EQ(c.mod_basis, 59);
  EXPECT_EQ(c.epochs, 20000);
  EXPECT_DOUBLE_EQ(c.attention_rate, 0.25);
  EXPECT_DOUBLE_EQ(c.train_frac, 0.8);
  EXPECT_TRUE(c.full_batch);
  EXPECT_DOUBLE_EQ(c.weight_decay, 2.0);
  EXPECT_EQ(c.warmup_convention, WarmupConvention::kLambdaLr);
  EXPECT_EQ(c.loss_precision, LossPrecision::kFloat64);
  EXPECT_EQ(c.d_mlp, 512);
  EXPECT_EQ(c.num_layers, 1);
  EXPECT_FALSE(c.eqn_sign);
  EXPECT_FALSE(c.diff_vocab);
  EXPECT_TRUE(c.validate().is_ok());
}

TEST(ModelSettings, ASettingOfAnotherModelIsAUsageError) {
  RunConfig c;  // bilinear
  c.attention_rate = 0.5;
  const Status s = c.validate();
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("--attention-rate applies to --model clock-pizza only"), std::string::npos) << s.message();
  c.model = ModelKind::kClockPizza;
  EXPECT_TRUE(c.validate().is_ok()) << c.validate().message();
}

TEST(Preset, SeedIsTheDefaultsAndAnUnknownOneIsAUsageError) {
  RunConfig c;
  c.model = ModelKind::kFactored;  // not given: the seed preset puts the default back
  ASSERT_TRUE(apply_preset("seed", {}, &c).is_ok());
  RunConfig defaults;
  defaults.preset = "seed";
  EXPECT_EQ(to_json(c), to_json(defaults));
  const Status s = apply_preset("nanda", {}, &c);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("use seed, nanda2023 or zhong2023"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace bilmod
