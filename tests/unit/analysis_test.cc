// The analysis on models whose answer is known by construction.
//
// A factored model built by hand from cos/sin waves: for each key frequency k, four hidden units compute
// cos(w a)cos(w b), sin(w a)sin(w b), sin(w a)cos(w b), cos(w a)sin(w b) (l on the a block, r on the b block),
// and the output layer combines them so that logit_c = sum_k A_k cos(w_k (a + b - c)). analyze must find exactly
// those key frequencies (with shares A_k^2 / sum A^2), perfect accuracy, eigenvectors at those frequencies, and
// each unit's rank-2 spectrum must match a dense eigendecomposition of Q_k.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <set>

#include "analysis/fourier.h"
#include "analysis/interaction_matrices.h"
#include "analysis/logit_fourier.h"
#include "analysis/model_weights.h"
#include "analysis/report.h"
#include "data/dataset.h"

namespace bilmod {
namespace {

constexpr int64_t kP = 31;
const std::vector<int64_t> kKeyFrequencies = {3, 7};
// Different amplitudes, so no eigenvalue of one frequency equals one of the other (equal eigenvalues would let
// the solver return any mix of the two waves as eigenvectors).
const std::vector<double> kAmplitudes = {1.0, 0.6};

TrainingState wave_model() {
  TrainingState s;
  RunConfig config;
  config.model = ModelKind::kFactored;
  config.mod_basis = kP;
  config.hidden_dim = 4 * static_cast<int64_t>(kKeyFrequencies.size());
  config.train_frac = 0.3;
  EXPECT_TRUE(config.validate().is_ok());
  s.set_config(config);
  s.params.assign(s.layout().total, 0.0f);
  const int64_t P = kP, H = s.spec().hidden_dim;
  std::vector<float> left(H * 2 * P, 0.0f), right(H * 2 * P, 0.0f), output(P * H, 0.0f);  // PyTorch order
  for (size_t f = 0; f < kKeyFrequencies.size(); ++f) {
    const double w = 2 * std::numbers::pi * static_cast<double>(kKeyFrequencies[f]) / static_cast<double>(P);
    const int64_t u = 4 * static_cast<int64_t>(f);
    for (int64_t x = 0; x < P; ++x) {
      const float c = static_cast<float>(std::cos(w * x)), sn = static_cast<float>(std::sin(w * x));
      // unit u: cos a cos b; u+1: sin a sin b; u+2: sin a cos b; u+3: cos a sin b
      left[(u + 0) * 2 * P + x] = c, right[(u + 0) * 2 * P + P + x] = c;
      left[(u + 1) * 2 * P + x] = sn, right[(u + 1) * 2 * P + P + x] = sn;
      left[(u + 2) * 2 * P + x] = sn, right[(u + 2) * 2 * P + P + x] = c;
      left[(u + 3) * 2 * P + x] = c, right[(u + 3) * 2 * P + P + x] = sn;
    }
    // cos(w(a+b-c)) = cos(w(a+b)) cos(wc) + sin(w(a+b)) sin(wc), with cos(w(a+b)) = h_u - h_{u+1} and
    // sin(w(a+b)) = h_{u+2} + h_{u+3}.
    for (int64_t c = 0; c < P; ++c) {
      const float cc = static_cast<float>(kAmplitudes[f] * std::cos(w * c)),
                  sc = static_cast<float>(kAmplitudes[f] * std::sin(w * c));
      output[c * H + u + 0] = cc, output[c * H + u + 1] = -cc;
      output[c * H + u + 2] = sc, output[c * H + u + 3] = sc;
    }
  }
  from_torch_order(*s.layout().find("left.weight"), left.data(),
                   s.params.data() + s.layout().find("left.weight")->offset);
  from_torch_order(*s.layout().find("right.weight"), right.data(),
                   s.params.data() + s.layout().find("right.weight")->offset);
  from_torch_order(*s.layout().find("output.weight"), output.data(),
                   s.params.data() + s.layout().find("output.weight")->offset);
  s.data = make_dataset(P, Operation::kAdd, 0.3, 1);
  return s;
}

TEST(WaveModel, FindsExactlyTheKeyFrequencies) {
  const TrainingState s = wave_model();
  const AnalysisReport r = analyze_checkpoint(s, {});
  ASSERT_TRUE(r.fourier_applies);
  std::set<int64_t> found(r.logit.key_frequencies.begin(), r.logit.key_frequencies.end());
  EXPECT_EQ(found, std::set<int64_t>(kKeyFrequencies.begin(), kKeyFrequencies.end()));
  const double total = kAmplitudes[0] * kAmplitudes[0] + kAmplitudes[1] * kAmplitudes[1];
  for (size_t f = 0; f < kKeyFrequencies.size(); ++f)
    EXPECT_NEAR(r.logit.share[kKeyFrequencies[f] - 1], kAmplitudes[f] * kAmplitudes[f] / total, 1e-5)
        << "frequency " << kKeyFrequencies[f];
  EXPECT_NEAR(r.logit.all_share, 1.0, 1e-5);
  EXPECT_DOUBLE_EQ(r.metrics.train_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.val_accuracy, 1.0);
  // Restricted to its key frequencies the model is unchanged; with them removed it knows nothing.
  EXPECT_NEAR(r.losses.restricted_loss, r.metrics.train_loss, 1e-4);
  EXPECT_NEAR(r.losses.excluded_loss, std::log(static_cast<double>(kP)), 1e-3);
}

TEST(WaveModel, EigenvectorsSitAtTheKeyFrequencies) {
  const TrainingState s = wave_model();
  const ModelWeights w = model_weights(s.spec(), s.layout(), s.params);
  const FourierBasis basis(kP);
  for (int64_t c : {int64_t{0}, int64_t{5}, kP - 1}) {
    const SymmetricSpectrum spectrum = symmetric_spectrum(class_interaction_matrix(w, c));
    // Q(c) has rank 8 (4 per frequency): every eigenvector with a non-zero eigenvalue is a pure wave at 3 or 7,
    // and they come in +-lambda pairs.
    for (int i = 0; i < 8; ++i) {
      const DominantFrequency d = dominant_frequency(basis, spectrum.eigenvectors.col(i));
      EXPECT_TRUE(d.frequency == 3 || d.frequency == 7)
          << "class " << c << " eigenvector " << i << " frequency " << d.frequency;
      EXPECT_NEAR(d.share, 1.0, 1e-9) << "class " << c << " eigenvector " << i;
    }
    EXPECT_NEAR(spectrum.eigenvalues[0], -spectrum.eigenvalues[1], 1e-6 * std::abs(spectrum.eigenvalues[0]));
    EXPECT_LT(std::abs(spectrum.eigenvalues[8]), 1e-9 * std::abs(spectrum.eigenvalues[0]));
  }
  for (int64_t k = 0; k < s.spec().hidden_dim; ++k) {
    const SymmetricSpectrum closed = unit_spectrum(w, k);  // the factored form's closed form
    const SymmetricSpectrum dense = symmetric_spectrum(unit_interaction_matrix(w, k));
    for (int i = 0; i < 2; ++i) {
      // A +-lambda pair ties in |lambda| up to rounding, so match by sign rather than by position.
      const int j = (closed.eigenvalues[i] > 0) == (dense.eigenvalues[0] > 0) ? 0 : 1;
      EXPECT_NEAR(closed.eigenvalues[i], dense.eigenvalues[j], 1e-12 * std::abs(dense.eigenvalues[0])) << "unit " << k;
      // Same eigenvector up to sign.
      EXPECT_NEAR(std::abs(closed.eigenvectors.col(i).dot(dense.eigenvectors.col(j))), 1.0, 1e-9) << "unit " << k;
      EXPECT_EQ(dominant_frequency(basis, closed.eigenvectors.col(i)).frequency, kKeyFrequencies[k / 4]);
    }
  }
  // The input weights live on the two key frequencies only.
  const AnalysisReport r = analyze_checkpoint(s, {});
  for (size_t k = 1; k <= r.input_frequency_norms.size(); ++k) {
    const bool key = k == 3 || k == 7;
    if (key)
      EXPECT_GT(r.input_frequency_norms[k - 1], 1.0);
    else
      EXPECT_LT(r.input_frequency_norms[k - 1], 1e-5) << "frequency " << k;
  }
  EXPECT_GT(r.input_gini, 0.85);
}

TEST(Fourier, ParsevalAndDominantFrequency) {
  for (int64_t P : {int64_t{12}, int64_t{13}}) {  // even P has a cos-only frequency P/2
    const FourierBasis basis(P);
    Eigen::VectorXd v(P);
    for (int64_t x = 0; x < P; ++x)
      v[x] = std::sin(0.7 * x * x) + 0.3 * std::cos(2 * std::numbers::pi * 2 * x / P) + 5.0;
    const Eigen::VectorXd e = basis.energies(v);
    const double centred = (v.array() - v.mean()).matrix().squaredNorm();
    EXPECT_NEAR(e.sum(), centred, 1e-9 * centred) << "P = " << P;
  }
  const int64_t P = 17;
  const FourierBasis basis(P);
  Eigen::VectorXd wave(2 * P);
  for (int64_t x = 0; x < P; ++x) {
    wave[x] = std::cos(2 * std::numbers::pi * 5 * x / P);
    wave[P + x] = 0.5 * std::sin(2 * std::numbers::pi * 5 * x / P);
  }
  const DominantFrequency d = dominant_frequency(basis, wave);
  EXPECT_EQ(d.frequency, 5);
  EXPECT_NEAR(d.share, 1.0, 1e-12);
  EXPECT_NEAR(d.share_a, 1.0, 1e-12);
  EXPECT_NEAR(d.share_b, 1.0, 1e-12);
}

TEST(Fourier, GiniCoefficient) {
  EXPECT_NEAR(gini_coefficient({1, 1, 1, 1}), 0.0, 1e-12);
  EXPECT_NEAR(gini_coefficient({0, 0, 0, 4}), 0.75, 1e-12);  // (n-1)/n
  EXPECT_NEAR(gini_coefficient({1, 2, 3}), 2.0 / 9.0, 1e-12);
}

TEST(OutputClasses, ParsesAndRejects) {
  std::vector<int64_t> classes;
  EXPECT_TRUE(parse_output_classes({}, 113, &classes).is_ok());
  EXPECT_EQ(classes, (std::vector<int64_t>{0, 1, 112}));
  EXPECT_TRUE(parse_output_classes({"5", "3", "5"}, 113, &classes).is_ok());
  EXPECT_EQ(classes, (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(parse_output_classes({"all"}, 7, &classes).is_ok());
  EXPECT_EQ(classes.size(), 7u);
  EXPECT_EQ(parse_output_classes({"113"}, 113, &classes).exit_code(), 2);
  EXPECT_EQ(parse_output_classes({"x"}, 113, &classes).exit_code(), 2);
  EXPECT_EQ(parse_output_classes({"-1"}, 113, &classes).exit_code(), 2);
}

}  // namespace
}  // namespace bilmod
