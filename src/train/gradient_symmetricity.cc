// Gradient symmetricity (Zhong et al. 2023, "The Clock and the Pizza", eval-main.ipynb; docs/MODELS.md "Measures"): how
// alike the logits' gradients with respect to the two input tokens are. For a triple (a, b, c), g_p = d logit_c / d t_p
// with t_p the embedding of the token at position p (a at 0, b at 1) before the positional embedding is added, and the
// triple scores cos(g_0, g_1) = g_0 . g_1 / |g_0| / |g_1|. Near 1: the logit depends on the two embeddings alike, as
// through their sum (a pizza, which adds them); a clock, which multiplies them, scores lower (the paper's reading).
//   gradient_symmetricity        the mean over all P^3 triples, computed exactly
//   gradient_symmetricity_paper  the notebook's estimate: the triples listed in itertools.product order (a, then b,
//                                then c), shuffled by random.Random(42).shuffle (util/cpython_random.h reproduces it
//                                bit for bit), the mean over the first 100, each fed as the notebook feeds it: the
//                                literal tokens [a, b] (for clock-pizza with --eqn-sign or --diff-vocab, not its own
//                                input)
// For models that give their token gradients (Model::token_gradients: the transformers); reported by `bilmod analyze`.
// A triple whose gradient at a position is zero has no cosine (numpy's nan): then its value is not logged.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "model/model.h"
#include "train/measure.h"
#include "util/cpython_random.h"

namespace bilmod {
namespace {

constexpr int64_t kPaperTriples = 100;
constexpr int64_t kPaperSeed = 42;
// Doubles of token gradients held at once (32 MiB): pairs are taken in chunks of this size.
constexpr int64_t kChunkDoubles = int64_t{1} << 22;

// The notebook's cosine: sum(g0 g1) / sqrt(sum g0^2) / sqrt(sum g1^2).
double cosine(const double* g0, const double* g1, int64_t d) {
  double dot = 0, n0 = 0, n1 = 0;
  for (int64_t k = 0; k < d; ++k) {
    dot += g0[k] * g1[k];
    n0 += g0[k] * g0[k];
    n1 += g1[k] * g1[k];
  }
  return dot / std::sqrt(n0) / std::sqrt(n1);
}

class GradientSymmetricity final : public Measure {
 public:
  const char* name() const override { return "gradient_symmetricity"; }
  bool applies(const ModelSpec& spec, const ParameterLayout& layout) const override {
    return model_of(spec).token_gradients(spec, layout, nullptr, nullptr, 0, nullptr);
  }
  // A backward of all P logits per pair, P^2 pairs (P = 113, d_model = 128, d_mlp = 512: 7 s on one core with ReLU,
  // 17 s bilinear; docs/MODELS.md), so `analyze` asks for it.
  When when() const override { return When::kOnDemand; }
  void log(const MeasureInput& in, nlohmann::json* row) const override {
    const Model& model = model_of(in.spec);
    const int64_t P = in.spec.mod_basis, d = in.spec.d_model, pairs = P * P, triples = pairs * P;
    // The notebook's triples: their indices (a P + b) P + c in product order, shuffled as CPython does. Its list
    // fits 32-bit indices for P < 1626 (and the measure's P^2 backward passes of P logits would be out of reach
    // beyond); above, only the exact mean is logged.
    std::vector<int64_t> paper;
    if (triples <= int64_t{UINT32_MAX}) {
      std::vector<uint32_t> order(static_cast<size_t>(triples));
      std::iota(order.begin(), order.end(), 0u);
      CPythonRandom(kPaperSeed).shuffle(&order);
      paper.assign(order.begin(), order.begin() + std::min(kPaperTriples, triples));
    }
    std::vector<double> paper_cosine(paper.size(), NAN);
    std::vector<double> pair_sum(static_cast<size_t>(pairs));  // per pair, its P cosines summed in c order
    const int64_t chunk = std::max<int64_t>(1, kChunkDoubles / (P * 2 * d));
    std::vector<int64_t> ids(static_cast<size_t>(chunk));
    std::vector<double> grads(static_cast<size_t>(chunk * P * 2 * d));
    for (int64_t first = 0; first < pairs; first += chunk) {
      const int64_t n = std::min(chunk, pairs - first);
      std::iota(ids.begin(), ids.begin() + n, first);
      if (!model.token_gradients(in.spec, in.layout, in.params, ids.data(), n, grads.data())) return;
      for (int64_t e = 0; e < n; ++e) {
        double sum = 0;
        for (int64_t c = 0; c < P; ++c) {
          const double* g = grads.data() + (e * P + c) * 2 * d;
          sum += cosine(g, g + d, d);
        }
        pair_sum[static_cast<size_t>(first + e)] = sum;
      }
    }
    // The notebook's triples, each through the input it feeds ([a, b] as they are: Model::token_gradients).
    std::vector<double> one(static_cast<size_t>(P * 2 * d));
    for (size_t i = 0; i < paper.size(); ++i) {
      const int64_t pair = paper[i] / P, c = paper[i] % P;
      if (!model.token_gradients(in.spec, in.layout, in.params, &pair, 1, one.data(), /*notebook_input=*/true)) return;
      const double* g = one.data() + c * 2 * d;
      paper_cosine[i] = cosine(g, g + d, d);
    }
    double total = 0;
    for (const double s : pair_sum) total += s;
    if (const double mean = total / static_cast<double>(triples); std::isfinite(mean))
      (*row)["gradient_symmetricity"] = mean;
    if (!paper.empty()) {
      double sum = 0;
      for (const double c : paper_cosine) sum += c;  // the notebook's order: tt += dp
      if (const double mean = sum / static_cast<double>(paper.size()); std::isfinite(mean))
        (*row)["gradient_symmetricity_paper"] = mean;
    }
  }
};

}  // namespace

const Measure& gradient_symmetricity_measure() {  // train/measure_registry.cc
  static const GradientSymmetricity measure;
  return measure;
}

}  // namespace bilmod
