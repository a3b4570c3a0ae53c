// Distance irrelevance (Zhong et al. 2023, "The Clock and the Pizza", docs/MODELS.md "Measures"): how little a logit
// depends on the distance a - b between the inputs once their sum a + b is fixed. With L[(a+b) mod P][(a-b) mod P]
// the logit on the pair (a, b), DI = mean over columns of the standard deviation over rows, divided by the standard
// deviation of all entries (population deviations: np.mean(np.std(L, axis=0)) / np.std(L)). Near 1: the correct logit
// does not depend on a - b (a clock, whose logit is cos(w (a + b - c))); near 0: it varies with a - b alone (a pizza,
// whose logit scales with |cos(w (a - b) / 2)|).
//   distance_irrelevance            L = the correct class's logit (the paper's notebook, eval-main.ipynb)
//   distance_irrelevance_incorrect  L = the highest logit of any other output (train-main.py's, which the paper's
//                                   logged runs hold under the name distance_irrelevancy)
// Read from the evaluation's own logits (no extra pass; reported by `bilmod analyze`), over every pair of Z_P x Z_P: a split that lacks some pairs
// (division's) logs nothing. Odd P maps (a, b) one to one onto (a+b, a-b); for even P, as the paper's code does, a
// later pair overwrites an earlier one in the same cell and unreached cells hold 0.
#include <cmath>
#include <vector>

#include "train/measure.h"

namespace bilmod {
namespace {

double distance_irrelevance(const std::vector<double>& table, int64_t P) {
  auto population_std = [](const double* x, int64_t n, int64_t stride) {
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[i * stride];
    mean /= static_cast<double>(n);
    double var = 0;
    for (int64_t i = 0; i < n; ++i) var += (x[i * stride] - mean) * (x[i * stride] - mean);
    return std::sqrt(var / static_cast<double>(n));
  };
  double columns = 0;
  for (int64_t d = 0; d < P; ++d) columns += population_std(table.data() + d, P, P);  // over rows s
  const double all = population_std(table.data(), P * P, 1);
  return all > 0 ? columns / static_cast<double>(P) / all : NAN;
}

class DistanceIrrelevance final : public Measure {
 public:
  const char* name() const override { return "distance_irrelevance"; }
  // Its per-pair scan of every logit costs a whole run of the one-hidden-layer models 10-15 % when taken at every
  // evaluation (bench/compare_builds_time.sh), so `analyze` asks for it.
  When when() const override { return When::kOnDemand; }
  void request(EvaluationOptions* options) const override { options->label_logits = true; }
  void log(const MeasureInput& in, nlohmann::json* row) const override {
    const int64_t P = in.spec.mod_basis;
    const EvaluationWorkspace& ws = in.evaluation;
    if (static_cast<int64_t>(ws.pairs.size()) != P * P || ws.correct_logit.size() != ws.pairs.size()) return;
    // The paper's loop visits pairs in (a, b) order; ours are in split order, so place them by pair index.
    std::vector<int64_t> at(static_cast<size_t>(P * P));
    for (size_t i = 0; i < ws.pairs.size(); ++i) at[static_cast<size_t>(ws.pairs[i])] = static_cast<int64_t>(i);
    std::vector<double> correct(static_cast<size_t>(P * P), 0.0), incorrect(static_cast<size_t>(P * P), 0.0);
    for (int64_t a = 0; a < P; ++a)
      for (int64_t b = 0; b < P; ++b) {
        const int64_t i = at[static_cast<size_t>(a * P + b)], cell = ((a + b) % P) * P + ((a - b) % P + P) % P;
        correct[static_cast<size_t>(cell)] = ws.correct_logit[static_cast<size_t>(i)];
        incorrect[static_cast<size_t>(cell)] = ws.incorrect_logit[static_cast<size_t>(i)];
      }
    if (const double di = distance_irrelevance(correct, P); !std::isnan(di)) (*row)["distance_irrelevance"] = di;
    if (const double di = distance_irrelevance(incorrect, P); !std::isnan(di))
      (*row)["distance_irrelevance_incorrect"] = di;
  }
};

}  // namespace

const Measure& distance_irrelevance_measure() {  // train/measure_registry.cc
  static const DistanceIrrelevance measure;
  return measure;
}

}  // namespace bilmod
