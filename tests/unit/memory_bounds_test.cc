// Large-P analysis in bounded memory (issue 18): the streamed logit measures against the whole (P*P, P) table
// they replace, computed here the old way; the block-mean heatmaps; memory sizes and the refusal line.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <numeric>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "analysis/fourier.h"
#include "analysis/interaction_matrices.h"
#include "analysis/logit_fourier.h"
#include "analysis/model_weights.h"
#include "data/dataset.h"
#include "model/network.h"
#include "plot/heatmap_downsample.h"
#include "util/memory_budget.h"

namespace bilmod {
namespace {

struct SmallModel {
  ModelSpec spec;
  ParameterLayout layout;
  std::vector<float> params;
  Dataset data;
};

// A factored model with arbitrary weights (a fixed LCG), P odd, its add or sub split.
SmallModel small_model(int64_t P, int64_t H, Operation op) {
  SmallModel m;
  m.spec.kind = ModelKind::kFactored;
  m.spec.mod_basis = P;
  m.spec.hidden_dim = H;
  m.layout = make_parameter_layout(m.spec);
  m.params.resize(m.layout.total);
  uint64_t x = 88172645463325252ull;
  for (float& p : m.params) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    p = static_cast<float>(static_cast<double>(x >> 11) / 9007199254740992.0 - 0.5);
  }
  m.data = make_dataset(P, op, 0.4, 7);
  return m;
}

// The old computation: every pair's logits at once, (P*P, P), and the measures from that table.
RowMatrix whole_table(const SmallModel& m) {
  const int64_t P = m.spec.mod_basis;
  std::vector<int64_t> pairs(static_cast<size_t>(P * P));
  std::iota(pairs.begin(), pairs.end(), 0);
  BatchActivations act;
  network_forward(m.spec, m.layout, m.params.data(), pairs.data(), P * P, &act);
  RowMatrix logits(P * P, P);
  for (int64_t i = 0; i < P * P * P; ++i) logits.data()[i] = act.logits[static_cast<size_t>(i)];
  return logits;
}

int64_t wave_argument(int64_t pair, int64_t P, Operation op) {
  const int64_t a = pair / P, b = pair % P;
  return (op == Operation::kSub ? a - b + P : a + b) % P;
}

double mean_cross_entropy(const RowMatrix& logits, const Dataset& data, const std::vector<int64_t>& pairs) {
  double total = 0;
  for (int64_t pair : pairs) {
    const auto row = logits.row(pair);
    const double top = row.maxCoeff();
    total += top + std::log((row.array() - top).exp().sum()) - row[data.label[pair]];
  }
  return total / static_cast<double>(pairs.size());
}

void expect_relative(double got, double want, double tolerance, const char* what) {
  EXPECT_LE(std::abs(got - want), tolerance * std::abs(want)) << what << ": " << got << " vs " << want;
}

class StreamedLogits : public ::testing::TestWithParam<Operation> {};

TEST_P(StreamedLogits, MatchTheWholeTable) {
  const Operation op = GetParam();
  const int64_t P = 37;
  const SmallModel m = small_model(P, 12, op);
  const RowMatrix logits = whole_table(m);
  const LogitSums sums = logit_sums(m.spec, m.layout, m.params, op);

  // Per-s sums: the same additions in the same (pair) order, so the same bits.
  RowMatrix per_s = RowMatrix::Zero(P, P);
  for (int64_t pair = 0; pair < P * P; ++pair) per_s.row(wave_argument(pair, P, op)) += logits.row(pair);
  EXPECT_TRUE(sums.per_s == per_s);
  const Eigen::RowVectorXd mean = logits.colwise().mean();
  for (int64_t c = 0; c < P; ++c) expect_relative(sums.mean[c], mean[c], 1e-12, "class mean");
  const double variance = (logits.rowwise() - mean).squaredNorm();
  expect_relative(sums.variance, variance, 1e-12, "variance");

  // Shares and key frequencies as the table gives them.
  const LogitFourier f = logit_fourier(sums);
  const FourierBasis basis(P);
  const RowMatrix cos_coef = basis.cos_waves * per_s, sin_coef = basis.sin_waves * per_s;
  double all = 0;
  for (int64_t k = 1; k <= P / 2; ++k) {
    const double share =
        (cos_coef.row(k - 1).squaredNorm() + sin_coef.row(k - 1).squaredNorm()) / (0.5 * P * P) / variance;
    expect_relative(f.share[k - 1], share, 1e-12, "share");
    all += share;
  }
  expect_relative(f.all_share, all, 1e-12, "all_share");
  ASSERT_FALSE(f.key_frequencies.empty());

  // Restricted and excluded loss from the whole table of key components, (P*P, P).
  const ProgressLosses losses = progress_losses(m.spec, m.layout, m.params, sums, m.data, f.key_frequencies);
  RowMatrix key_per_s = RowMatrix::Zero(P, P);
  for (int64_t k : f.key_frequencies) {
    key_per_s += basis.cos_waves.row(k - 1).transpose() * cos_coef.row(k - 1) / (0.5 * P * P);
    key_per_s += basis.sin_waves.row(k - 1).transpose() * sin_coef.row(k - 1) / (0.5 * P * P);
  }
  RowMatrix key(P * P, P);
  for (int64_t pair = 0; pair < P * P; ++pair) key.row(pair) = key_per_s.row(wave_argument(pair, P, op));
  const RowMatrix restricted = key.rowwise() + mean, excluded = logits - key;
  expect_relative(losses.restricted_loss, mean_cross_entropy(restricted, m.data, defined_pairs(P, op)), 1e-12,
                  "restricted");
  expect_relative(losses.excluded_loss, mean_cross_entropy(excluded, m.data, m.data.train_indices), 1e-12, "excluded");
}

INSTANTIATE_TEST_SUITE_P(AddAndSub, StreamedLogits, ::testing::Values(Operation::kAdd, Operation::kSub));

#ifdef _OPENMP
TEST(StreamedLogitsThreads, SameBitsForAnyThreadCount) {
  // More pairs than one block per thread, so the blocks really are spread over threads.
  const SmallModel m = small_model(71, 8, Operation::kAdd);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const LogitSums one = logit_sums(m.spec, m.layout, m.params, Operation::kAdd);
  const LogitFourier f = logit_fourier(one);
  const ProgressLosses l1 = progress_losses(m.spec, m.layout, m.params, one, m.data, f.key_frequencies);
  omp_set_num_threads(3);
  const LogitSums three = logit_sums(m.spec, m.layout, m.params, Operation::kAdd);
  const ProgressLosses l3 = progress_losses(m.spec, m.layout, m.params, three, m.data, f.key_frequencies);
  omp_set_num_threads(saved);
  EXPECT_TRUE(one.per_s == three.per_s);
  EXPECT_TRUE(one.mean == three.mean);
  EXPECT_EQ(one.variance, three.variance);
  EXPECT_EQ(l1.restricted_loss, l3.restricted_loss);
  EXPECT_EQ(l1.excluded_loss, l3.excluded_loss);
}
#endif

TEST(ClassSpectra, LowRankMatchesTheDenseSolve) {
  // 2P = 600 > kLowRankSide and H < P: the 2H x 2H path, against the dense 2P x 2P solve of Q(c).
  const SmallModel m = small_model(300, 10, Operation::kAdd);
  const ModelWeights w = model_weights(m.spec, m.layout, m.params);
  const ClassSpectra spectra(w);
  ASSERT_TRUE(spectra.low_rank);
  for (int64_t c : {0, 1, 299}) {
    const SymmetricSpectrum fast = spectra(c), dense = symmetric_spectrum(class_interaction_matrix(w, c));
    ASSERT_EQ(fast.eigenvalues.size(), 20);
    const double scale = std::abs(dense.eigenvalues[0]);
    for (int i = 0; i < 20; ++i) {
      EXPECT_NEAR(fast.eigenvalues[i], dense.eigenvalues[i], 1e-10 * scale) << "class " << c << " eigenvalue " << i;
      // Unit eigenvectors, the same up to sign (the eigenvalues here are distinct).
      EXPECT_NEAR(std::abs(fast.eigenvectors.col(i).dot(dense.eigenvectors.col(i))), 1.0, 1e-8)
          << "class " << c << " vector " << i;
    }
    EXPECT_LT(std::abs(dense.eigenvalues[20]), 1e-10 * scale);  // the rest of the dense spectrum is zero
  }
}

TEST(HeatmapDownsample, BlockMeansAndExactCopies) {
  EXPECT_EQ(heatmap_block(kMaxHeatmapSide), 1);
  EXPECT_EQ(heatmap_block(kMaxHeatmapSide + 1), 2);
  EXPECT_EQ(heatmap_block(4006), 8);
  // 5 x 5 in blocks of 2: 3 x 3, the edge blocks averaging the cells they hold.
  std::vector<double> v(25);
  std::iota(v.begin(), v.end(), 0.0);
  const Heatmap h = block_mean_heatmap(v.data(), 5, 5, 2);
  ASSERT_EQ(h.rows, 3);
  ASSERT_EQ(h.cols, 3);
  EXPECT_DOUBLE_EQ(h.values[0], (0 + 1 + 5 + 6) / 4.0);
  EXPECT_DOUBLE_EQ(h.values[2], (4 + 9) / 2.0);
  EXPECT_DOUBLE_EQ(h.values[6], (20 + 21) / 2.0);
  EXPECT_DOUBLE_EQ(h.values[8], 24.0);
  // Block 1 is the matrix itself, the sign of a zero included.
  const std::vector<double> z = {-0.0, 1.5, 2.5, -3.0};
  const Heatmap same = block_mean_heatmap(z.data(), 2, 2, 1);
  ASSERT_EQ(same.values.size(), 4u);
  EXPECT_TRUE(std::signbit(same.values[0]));
  EXPECT_EQ(same.values, z);
}

TEST(MemoryBudget, ParsesSizes) {
  int64_t b = 0;
  ASSERT_TRUE(parse_memory_size("8G", "--max-memory", &b).is_ok());
  EXPECT_EQ(b, 8ll << 30);
  ASSERT_TRUE(parse_memory_size("500M", "--max-memory", &b).is_ok());
  EXPECT_EQ(b, 500ll << 20);
  ASSERT_TRUE(parse_memory_size("2.5GB", "--max-memory", &b).is_ok());
  EXPECT_EQ(b, 5ll << 29);
  ASSERT_TRUE(parse_memory_size("4096", "--max-memory", &b).is_ok());
  EXPECT_EQ(b, 4096);
  for (const char* bad : {"", "lots", "8X", "-1G", "0", "nan", "1e30G"}) {
    const Status s = parse_memory_size(bad, "--max-memory", &b);
    EXPECT_EQ(s.code(), ExitCode::kUsage) << bad;
  }
}

TEST(MemoryBudget, RefusesWithOneLineSayingWhatToChange) {
  MemoryBudget budget;
  ASSERT_TRUE(memory_budget("1G", &budget).is_ok());
  EXPECT_EQ(budget.bytes, 1ll << 30);
  MemoryEstimate e{3ll << 30, "analyze: factored, P = 997, H = 256", "train a smaller --hidden-dim"};
  const Status s = check_memory(e, budget);
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_EQ(
      s.message(),
      "needs about 3.0 GB of memory (analyze: factored, P = 997, H = 256), but 1.0 GB is available (--max-memory): "
      "train a smaller --hidden-dim, or --max-memory 3G to run anyway");
  e.bytes = 1ll << 30;  // exactly what there is: runs
  EXPECT_TRUE(check_memory(e, budget).is_ok());
  // Without --max-memory the budget is MemAvailable, read now.
  ASSERT_TRUE(memory_budget("", &budget).is_ok());
  EXPECT_EQ(budget.source, "MemAvailable in /proc/meminfo");
  EXPECT_GT(budget.bytes, 0);
}

}  // namespace
}  // namespace bilmod
