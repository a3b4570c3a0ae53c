// mlp --activation quad as a quadratic form in [x; 1] (docs/MODELS.md "Interaction matrices"): on every pair the
// per-class matrix Q(c) must give the model's own logits less output.bias, each unit's matrix its hidden value, the
// rank-1 unit spectrum must match a dense solve, and the low-rank class path (side 2P+1 > kLowRankSide) the dense one.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/interaction_matrices.h"
#include "analysis/model_weights.h"
#include "config/run_config.h"
#include "model/logit_blocks.h"

namespace bilmod {
namespace {

struct QuadModel {
  ModelSpec spec;
  ParameterLayout layout;
  std::vector<float> params;
};

QuadModel quad_model(int64_t P, int64_t H, uint64_t seed) {
  RunConfig config;
  config.model = ModelKind::kMlp;
  config.activation = Activation::kQuad;
  config.mod_basis = P;
  config.hidden_dim = H;
  EXPECT_TRUE(config.validate().is_ok());
  QuadModel m;
  m.spec = config.model_spec();
  m.layout = make_parameter_layout(m.spec);
  m.params.assign(m.layout.total, 0.0f);
  init_parameters(m.spec, m.layout, seed, m.params.data());
  return m;
}

// [e_a; e_b; 1]^T m [e_a; e_b; 1], read off m's entries.
double form(const RowMatrix& m, int64_t P, int64_t a, int64_t b) {
  const int64_t idx[3] = {a, P + b, 2 * P};
  double sum = 0;
  for (int64_t i : idx)
    for (int64_t j : idx) sum += m(i, j);
  return sum;
}

TEST(QuadMlp, ClassMatricesReproduceTheLogitsOnEveryPair) {
  const int64_t P = 17, H = 24;
  const QuadModel m = quad_model(P, H, 5);
  const ModelWeights w = model_weights(m.spec, m.layout, m.params);
  ASSERT_TRUE(has_interaction_matrices(m.spec));
  ASSERT_EQ(interaction_matrix_size(w), 2 * P + 1);
  std::vector<RowMatrix> q;
  for (int64_t c = 0; c < P; ++c) q.push_back(class_interaction_matrix(w, c));
  std::vector<int64_t> pairs(P * P);
  for (int64_t i = 0; i < P * P; ++i) pairs[i] = i;
  double worst = 0, scale = 0;
  for_each_logit_block(m.spec, m.layout, m.params, pairs, [&](int64_t first, int64_t count, const float* logits) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t a = (first + i) / P, b = (first + i) % P;
      for (int64_t c = 0; c < P; ++c) {
        const double want = static_cast<double>(logits[i * P + c]) - w.output_bias[c];
        worst = std::max(worst, std::abs(form(q[c], P, a, b) - want));
        scale = std::max(scale, std::abs(want));
      }
    }
  });
  EXPECT_GT(scale, 0.05);
  EXPECT_LT(worst, 1e-5 * std::max(1.0, scale)) << "largest |x^T Q(c) x - (logit - c)| " << worst;

  // Each unit's matrix gives its hidden value (w.x + b)^2.
  for (int64_t k = 0; k < H; ++k) {
    const RowMatrix qk = unit_interaction_matrix(w, k);
    for (int64_t a = 0; a < P; a += 3)
      for (int64_t b = 0; b < P; b += 5) {
        const double z = w.left(k, a) + w.left(k, P + b) + w.input_bias[k];
        EXPECT_NEAR(form(qk, P, a, b), z * z, 1e-12);
      }
  }
}

TEST(QuadMlp, UnitSpectrumIsRankOneAndMatchesTheDenseSolve) {
  const int64_t P = 11, H = 6;
  const QuadModel m = quad_model(P, H, 9);
  const ModelWeights w = model_weights(m.spec, m.layout, m.params);
  for (int64_t k = 0; k < H; ++k) {
    const SymmetricSpectrum closed = unit_spectrum(w, k);
    const SymmetricSpectrum dense = symmetric_spectrum(unit_interaction_matrix(w, k));
    ASSERT_EQ(closed.eigenvalues.size(), 1);
    EXPECT_NEAR(closed.eigenvalues[0], dense.eigenvalues[0], 1e-12);
    EXPECT_NEAR(std::abs(closed.eigenvectors.col(0).dot(dense.eigenvectors.col(0))), 1.0, 1e-9);
    EXPECT_LT(std::abs(dense.eigenvalues[1]), 1e-12);  // every other eigenvalue is 0
  }
}

TEST(QuadMlp, LowRankClassSpectrumMatchesTheDenseSolve) {
  const int64_t P = 263, H = 12;  // side 527 > kLowRankSide, rank H < side
  const QuadModel m = quad_model(P, H, 3);
  const ModelWeights w = model_weights(m.spec, m.layout, m.params);
  const ClassSpectra spectra(w);
  ASSERT_TRUE(spectra.low_rank);
  for (int64_t c : {0, 1, 262}) {
    const SymmetricSpectrum fast = spectra(c);
    const SymmetricSpectrum dense = symmetric_spectrum(class_interaction_matrix(w, c));
    ASSERT_EQ(fast.eigenvalues.size(), H);
    for (int64_t i = 0; i < H; ++i) {
      EXPECT_NEAR(fast.eigenvalues[i], dense.eigenvalues[i], 1e-10 * std::abs(dense.eigenvalues[0]));
      EXPECT_NEAR(std::abs(fast.eigenvectors.col(i).dot(dense.eigenvectors.col(i))), 1.0, 1e-6);
    }
  }
}

}  // namespace
}  // namespace bilmod
