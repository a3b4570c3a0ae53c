#include "analysis/interaction_matrices.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace bilmod {

bool has_interaction_matrices(ModelKind kind) { return kind != ModelKind::kMlp; }

int64_t interaction_matrix_size(const ModelWeights& w) {
  return w.spec.kind == ModelKind::kFactored ? 2 * w.mod_basis() : w.mod_basis();
}

RowMatrix unit_interaction_matrix(const ModelWeights& w, int64_t unit) {
  if (w.spec.kind == ModelKind::kBilinear) return w.unit_weight[static_cast<size_t>(unit)];
  const Eigen::VectorXd l = w.left.row(unit).transpose(), r = w.right.row(unit).transpose();  // (2P,)
  return 0.5 * (l * r.transpose() + r * l.transpose());
}

RowMatrix class_interaction_matrix(const ModelWeights& w, int64_t output_class) {
  const int64_t H = w.hidden_dim();
  if (w.spec.kind == ModelKind::kBilinear) {
    RowMatrix m = RowMatrix::Zero(w.mod_basis(), w.mod_basis());
    for (int64_t k = 0; k < H; ++k) m += w.output(output_class, k) * w.unit_weight[static_cast<size_t>(k)];
    return m;
  }
  // Q(c) = (L^T diag(u_c) R + R^T diag(u_c) L) / 2 with u_c = U[c, :]: two (2P x H)(H x 2P) products.
  const Eigen::VectorXd u = w.output.row(output_class).transpose();  // (H,)
  const RowMatrix half = w.left.transpose() * u.asDiagonal() * w.right;    // (2P, 2P)
  return 0.5 * (half + half.transpose());
}

namespace {
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
}  // namespace

SymmetricSpectrum symmetric_spectrum(const RowMatrix& m) {
  const Eigen::MatrixXd symmetric = 0.5 * (m + m.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(symmetric);
  return sorted_by_magnitude(solver.eigenvalues(), solver.eigenvectors());
}

SymmetricSpectrum factored_unit_spectrum(const ModelWeights& w, int64_t unit) {
  const Eigen::VectorXd l = w.left.row(unit).transpose(), r = w.right.row(unit).transpose();
  const double nl = l.norm(), nr = r.norm();
  const Eigen::Index n = l.size();
  Eigen::VectorXd values = Eigen::VectorXd::Zero(2);
  Eigen::MatrixXd vectors = Eigen::MatrixXd::Zero(n, 2);
  if (nl == 0 || nr == 0) {
    vectors(0, 0) = 1;
    vectors(1, 1) = 1;
    return sorted_by_magnitude(values, vectors);
  }
  // (l r^T + r l^T)/2 (l/|l| +- r/|r|) = (l.r +- |l||r|)/2 (l/|l| +- r/|r|).
  const Eigen::VectorXd lh = l / nl, rh = r / nr;
  const double dot = l.dot(r);
  values << 0.5 * (dot + nl * nr), 0.5 * (dot - nl * nr);
  const Eigen::VectorXd plus = lh + rh, minus = lh - rh;
  // When l is parallel to r one of the two directions vanishes (and so does its eigenvalue).
  vectors.col(0) = plus.norm() > 0 ? Eigen::VectorXd(plus.normalized()) : Eigen::VectorXd(minus.normalized());
  vectors.col(1) = minus.norm() > 0 ? Eigen::VectorXd(minus.normalized()) : Eigen::VectorXd(plus.normalized());
  return sorted_by_magnitude(values, vectors);
}

ClassSpectra::ClassSpectra(const ModelWeights& w) : weights(w) {
  const int64_t P = w.mod_basis(), H = w.hidden_dim();
  low_rank = w.spec.kind == ModelKind::kFactored && 2 * P > kLowRankSide && H < P;
  if (!low_rank) return;
  Eigen::MatrixXd b(2 * P, 2 * H);
  b.leftCols(H) = w.left.transpose();
  b.rightCols(H) = w.right.transpose();
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(b);
  q = qr.householderQ() * Eigen::MatrixXd::Identity(2 * P, 2 * H);
  r = qr.matrixQR().topRows(2 * H).triangularView<Eigen::Upper>();
}

SymmetricSpectrum ClassSpectra::operator()(int64_t output_class) const {
  if (!low_rank) return symmetric_spectrum(class_interaction_matrix(weights, output_class));
  const int64_t H = weights.hidden_dim();
  const Eigen::VectorXd u = weights.output.row(output_class).transpose();
  // R S R^T with S = [[0, D/2], [D/2, 0]]: (R_l D R_r^T + R_r D R_l^T) / 2, R_l and R_r R's first and last H columns.
  const Eigen::MatrixXd rl = r.leftCols(H), rr = r.rightCols(H);
  const Eigen::MatrixXd half = rl * u.asDiagonal() * rr.transpose();
  const Eigen::MatrixXd small = 0.5 * (half + half.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(small);
  return sorted_by_magnitude(solver.eigenvalues(), q * solver.eigenvectors());
}

Eigen::VectorXd singular_values(const RowMatrix& m) {
  Eigen::BDCSVD<Eigen::MatrixXd> svd(m);  // no U or V: values only, already in decreasing order
  return svd.singularValues();
}

}  // namespace bilmod
