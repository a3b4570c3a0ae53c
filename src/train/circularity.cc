// Circularity (Zhong et al. 2023, "The Clock and the Pizza", eval-main.ipynb; docs/MODELS.md "Measures"): how close
// the token embedding's top principal components come to a circle over Z_P. The rows of W_E^T, one per token of the
// whole vocabulary (as the notebook takes them), are centred and their top four principal components taken; each
// component v (one value per token) is scaled to sum v^2 = 1/P, and scores
//   max over k = 1..P-1 of 2 |sum_{t<P} v[t k mod P] e^{2 pi i t / P}|^2, clipped to [0, 1];
// circularity is the mean of the four scores: 1 when each component is a cosine of one frequency over the numbers.
// For models with a token embedding (Model::token_embedding): the transformer; reported by `bilmod analyze`.
#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include <Eigen/Dense>

#include "model/model.h"
#include "train/measure.h"

namespace bilmod {
namespace {

constexpr int64_t kComponents = 4;

double circularity(const Eigen::MatrixXd& tokens, int64_t P) {  // (vocabulary, d_model): one row per token
  const Eigen::MatrixXd centred = tokens.rowwise() - tokens.colwise().mean();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> pca(centred.transpose() * centred);  // ascending
  const int64_t d = centred.cols(), components = std::min<int64_t>(kComponents, d);
  std::vector<std::complex<double>> wave(static_cast<size_t>(P));  // e^{2 pi i t / P}
  for (int64_t t = 0; t < P; ++t)
    wave[static_cast<size_t>(t)] = std::polar(1.0, 2 * M_PI * static_cast<double>(t) / static_cast<double>(P));
  double sum = 0;
  for (int64_t c = 0; c < components; ++c) {
    Eigen::VectorXd v = centred * pca.eigenvectors().col(d - 1 - c);  // the component's score per token
    const double norm = v.norm();
    if (!(norm > 0)) continue;  // a constant embedding scores 0
    v /= norm * std::sqrt(static_cast<double>(P));
    double best = 0;
    for (int64_t k = 1; k < P; ++k) {
      std::complex<double> s = 0;
      for (int64_t t = 0; t < P; ++t) s += v[(t * k) % P] * wave[static_cast<size_t>(t)];
      best = std::max(best, 2 * std::norm(s));
    }
    sum += std::clamp(best, 0.0, 1.0);
  }
  return sum / static_cast<double>(components);
}

class Circularity final : public Measure {
 public:
  const char* name() const override { return "circularity"; }
  bool applies(const ModelSpec& spec, const ParameterLayout& layout) const override {
    return model_of(spec).token_embedding(layout) != nullptr;
  }
  // A (d_model x d_model) eigensolve, milliseconds: a few percent of the transformer's epoch, so `analyze` asks for it.
  When when() const override { return When::kOnDemand; }
  void log(const MeasureInput& in, nlohmann::json* row) const override {
    const ParameterInfo& info = *model_of(in.spec).token_embedding(in.layout);
    std::vector<float> torch_order(info.size);
    to_torch_order(info, in.params + info.offset, torch_order.data());
    const int64_t d = info.torch_shape[0], vocabulary = info.torch_shape[1];
    const Eigen::MatrixXd tokens =
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(torch_order.data(), d,
                                                                                                vocabulary)
            .transpose()
            .cast<double>();
    (*row)["circularity"] = circularity(tokens, in.spec.mod_basis);
  }
};

}  // namespace

const Measure& circularity_measure() {  // train/measure_registry.cc
  static const Circularity measure;
  return measure;
}

}  // namespace bilmod
