#include "analysis/interaction_matrices.h"

#include <algorithm>
#include <utility>

#include "analysis/decompositions.h"

namespace bilmod {

bool has_interaction_matrices(const ModelSpec& spec) { return interaction_form(spec) != nullptr; }

int64_t interaction_matrix_size(const ModelWeights& w) { return w.form->side(w.mod_basis()); }

RowMatrix unit_interaction_matrix(const ModelWeights& w, int64_t unit) { return w.form->unit_matrix(w, unit); }

RowMatrix weighted_interaction_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u) {
  return w.form->weighted_matrix(w, u);
}

RowMatrix class_interaction_matrix(const ModelWeights& w, int64_t output_class) {
  return weighted_interaction_matrix(w, w.output.row(output_class).transpose());
}

SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit) { return w.form->unit_spectrum(w, unit); }

bool low_rank_class_spectra(const InteractionForm& form, int64_t mod_basis, int64_t hidden_dim) {
  const int64_t side = form.side(mod_basis), rank = form.factor_rank(hidden_dim);
  return rank > 0 && side > kLowRankSide && rank < side;
}

ClassSpectra::ClassSpectra(const ModelWeights& w) : weights(w) {
  low_rank = low_rank_class_spectra(*w.form, w.mod_basis(), w.hidden_dim());
  if (!low_rank) return;
  const Eigen::MatrixXd b = w.form->factor(w);
  const int64_t side = b.rows(), rank = b.cols();
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(b);
  q = qr.householderQ() * Eigen::MatrixXd::Identity(side, rank);
  r = qr.matrixQR().topRows(rank).triangularView<Eigen::Upper>();
}

SymmetricSpectrum ClassSpectra::operator()(int64_t output_class) const {
  if (!low_rank) return symmetric_spectrum(class_interaction_matrix(weights, output_class));
  const Eigen::VectorXd u = weights.output.row(output_class).transpose();
  const SelfAdjointEigen e = self_adjoint_eigen(weights.form->reduced(r, u));
  return sorted_by_magnitude(e.values, q * e.vectors);
}

Eigen::VectorXd singular_values(const RowMatrix& m) {
  return bdc_singular_values(m);  // no U or V: values only, already in decreasing order
}

SingularTriplets singular_triplets(const RowMatrix& m) {
  ThinSvd svd = bdc_thin_svd(m, std::min(m.rows(), m.cols()));
  return {std::move(svd.values), std::move(svd.u), std::move(svd.v)};
}

SingularTriplets singular_triplets(const SymmetricSpectrum& s) {
  SingularTriplets t{s.eigenvalues.cwiseAbs(), s.eigenvectors, s.eigenvectors};
  for (Eigen::Index i = 0; i < s.eigenvalues.size(); ++i)
    if (s.eigenvalues[i] < 0) t.right.col(i) *= -1;
  return t;
}

}  // namespace bilmod
