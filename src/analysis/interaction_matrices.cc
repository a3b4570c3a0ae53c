#include "analysis/interaction_matrices.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "analysis/decompositions.h"

namespace bilmod {

bool is_quadratic_mlp(const ModelSpec& spec) {
  return spec.kind == ModelKind::kMlp && spec.activation == Activation::kQuad;
}

bool has_interaction_matrices(const ModelSpec& spec) {
  if (spec.kind == ModelKind::kTransformer) return false;
  return spec.kind != ModelKind::kMlp || is_quadratic_mlp(spec);
}

int64_t interaction_matrix_size(const ModelWeights& w) {
  if (w.spec.kind == ModelKind::kFactored) return 2 * w.mod_basis();
  if (w.spec.kind == ModelKind::kMlp) return 2 * w.mod_basis() + 1;
  return w.mod_basis();
}

namespace {
// mlp quad: V = [hidden.weight hidden.bias] (H, 2P+1), row k = v_k, the affine map on [x; 1].
RowMatrix augmented_weights(const ModelWeights& w) {
  RowMatrix v(w.hidden_dim(), w.left.cols() + 1);
  v.leftCols(w.left.cols()) = w.left;
  v.col(w.left.cols()) = w.input_bias;
  return v;
}
}  // namespace

RowMatrix unit_interaction_matrix(const ModelWeights& w, int64_t unit) {
  if (w.spec.kind == ModelKind::kBilinear) return w.unit_weight[static_cast<size_t>(unit)];
  if (w.spec.kind == ModelKind::kMlp) {
    Eigen::VectorXd v(w.left.cols() + 1);
    v << w.left.row(unit).transpose(), w.input_bias[unit];
    return v * v.transpose();
  }
  const Eigen::VectorXd l = w.left.row(unit).transpose(), r = w.right.row(unit).transpose();  // (2P,)
  return 0.5 * (l * r.transpose() + r * l.transpose());
}

RowMatrix weighted_interaction_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u) {
  const int64_t H = w.hidden_dim();
  if (w.spec.kind == ModelKind::kBilinear) {
    RowMatrix m = RowMatrix::Zero(w.mod_basis(), w.mod_basis());
    for (int64_t k = 0; k < H; ++k) m += u[k] * w.unit_weight[static_cast<size_t>(k)];
    return m;
  }
  if (w.spec.kind == ModelKind::kMlp) {  // V^T diag(u) V: one (2P+1 x H)(H x 2P+1) product
    const RowMatrix v = augmented_weights(w);
    return v.transpose() * u.asDiagonal() * v;
  }
  // (L^T diag(u) R + R^T diag(u) L) / 2: two (2P x H)(H x 2P) products.
  const RowMatrix half = w.left.transpose() * u.asDiagonal() * w.right;  // (2P, 2P)
  return 0.5 * (half + half.transpose());
}

RowMatrix class_interaction_matrix(const ModelWeights& w, int64_t output_class) {
  return weighted_interaction_matrix(w, w.output.row(output_class).transpose());
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
  const SelfAdjointEigen e = self_adjoint_eigen(symmetric);
  return sorted_by_magnitude(e.values, e.vectors);
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

SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit) {
  if (w.spec.kind == ModelKind::kFactored) return factored_unit_spectrum(w, unit);
  if (w.spec.kind != ModelKind::kMlp) return symmetric_spectrum(unit_interaction_matrix(w, unit));
  Eigen::VectorXd v(w.left.cols() + 1);
  v << w.left.row(unit).transpose(), w.input_bias[unit];
  SymmetricSpectrum s;
  s.eigenvalues = Eigen::VectorXd::Constant(1, v.squaredNorm());
  s.eigenvectors = Eigen::MatrixXd::Zero(v.size(), 1);
  if (v.norm() > 0) s.eigenvectors.col(0) = v.normalized();
  else s.eigenvectors(0, 0) = 1;
  return s;
}

ClassSpectra::ClassSpectra(const ModelWeights& w) : weights(w) {
  const int64_t H = w.hidden_dim();
  const bool quad = w.spec.kind == ModelKind::kMlp;
  const int64_t side = interaction_matrix_size(w), rank = quad ? H : 2 * H;
  low_rank = (w.spec.kind == ModelKind::kFactored || quad) && side > kLowRankSide && rank < side;
  if (!low_rank) return;
  Eigen::MatrixXd b(side, rank);
  if (quad) {
    b = augmented_weights(w).transpose();
  } else {
    b.leftCols(H) = w.left.transpose();
    b.rightCols(H) = w.right.transpose();
  }
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(b);
  q = qr.householderQ() * Eigen::MatrixXd::Identity(side, rank);
  r = qr.matrixQR().topRows(rank).triangularView<Eigen::Upper>();
}

SymmetricSpectrum ClassSpectra::operator()(int64_t output_class) const {
  if (!low_rank) return symmetric_spectrum(class_interaction_matrix(weights, output_class));
  const int64_t H = weights.hidden_dim();
  const Eigen::VectorXd u = weights.output.row(output_class).transpose();
  if (weights.spec.kind == ModelKind::kMlp) {  // R diag(u) R^T, already symmetric
    const Eigen::MatrixXd small = r * u.asDiagonal() * r.transpose();
    const SelfAdjointEigen e = self_adjoint_eigen(small);
    return sorted_by_magnitude(e.values, q * e.vectors);
  }
  // R S R^T with S = [[0, D/2], [D/2, 0]]: (R_l D R_r^T + R_r D R_l^T) / 2, R_l and R_r R's first and last H columns.
  const Eigen::MatrixXd rl = r.leftCols(H), rr = r.rightCols(H);
  const Eigen::MatrixXd half = rl * u.asDiagonal() * rr.transpose();
  const Eigen::MatrixXd small = 0.5 * (half + half.transpose());
  const SelfAdjointEigen e = self_adjoint_eigen(small);
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
