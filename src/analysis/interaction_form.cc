#include "analysis/interaction_form.h"

#include <algorithm>
#include <numeric>

#include "analysis/decompositions.h"
#include "model/model.h"

namespace bilmod {

const InteractionForm* interaction_form(const ModelSpec& spec) {
  switch (model_of(spec).quadratic_form(spec)) {
    case QuadraticForm::kUnitMatrices:
      return &bilinear_form();
    case QuadraticForm::kSymmetricProducts:
      return &factored_form();
    case QuadraticForm::kSquares:
      return &quadratic_mlp_form();
    case QuadraticForm::kNone:
      break;
  }
  return nullptr;
}

SymmetricSpectrum sorted_by_magnitude(const Eigen::VectorXd& values, const Eigen::MatrixXd& vectors) {
  std::vector<Eigen::Index> order(static_cast<size_t>(values.size()));
  std::iota(order.begin(), order.end(), 0);
  // Ties in |lambda| (a +-lambda pair) put the positive one first, so the order is deterministic.
  std::stable_sort(order.begin(), order.end(), [&values](Eigen::Index i, Eigen::Index j) {
    const double ai = std::abs(values[i]), aj = std::abs(values[j]);
    return ai != aj ? ai > aj : values[i] > values[j];
  });
  SymmetricSpectrum s;
  s.eigenvalues.resize(values.size());
  s.eigenvectors.resize(vectors.rows(), vectors.cols());
  for (size_t i = 0; i < order.size(); ++i) {
    s.eigenvalues[static_cast<Eigen::Index>(i)] = values[order[i]];
    s.eigenvectors.col(static_cast<Eigen::Index>(i)) = vectors.col(order[i]);
  }
  return s;
}

SymmetricSpectrum symmetric_spectrum(const RowMatrix& m) {
  const Eigen::MatrixXd symmetric = 0.5 * (m + m.transpose());
  const SelfAdjointEigen e = self_adjoint_eigen(symmetric);
  return sorted_by_magnitude(e.values, e.vectors);
}

}  // namespace bilmod
