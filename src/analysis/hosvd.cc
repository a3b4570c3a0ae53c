#include "analysis/hosvd.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "analysis/decompositions.h"
#include "analysis/interaction_matrices.h"

namespace bilmod {

namespace {

// Makes column i of u have its largest-magnitude entry positive, flipping row i of vh (when given) with it.
void fix_signs(Eigen::MatrixXd* u, RowMatrix* vh) {
  for (Eigen::Index i = 0; i < u->cols(); ++i) {
    Eigen::Index at = 0;
    u->col(i).cwiseAbs().maxCoeff(&at);
    if ((*u)(at, i) < 0) {
      u->col(i) *= -1;
      if (vh != nullptr) vh->row(i) *= -1;
    }
  }
}

FlattenedSvd from_gram(const ModelWeights& w, int64_t k, FlattenedSvd r) {
  const Eigen::MatrixXd g = w.form->unit_gram(w);
  r.frobenius_sq = g.trace();
  const SelfAdjointEigen solver = self_adjoint_eigen(g);  // eigenvalues ascending: the largest are last
  const int64_t H = r.d_out, n2 = r.side * r.side;
  r.u.resize(H, k);
  for (int64_t i = 0; i < k; ++i) r.u.col(i) = solver.vectors.col(H - 1 - i);
  fix_signs(&r.u, nullptr);  // before Vh, which follows from U
  r.vh = RowMatrix::Zero(k, n2);
  r.s.resize(k);
  for (int64_t i = 0; i < k; ++i) {
    // Vh_i = U_i^T T / s_i. Its norm gives s_i to full precision, where sqrt of a Gram eigenvalue would lose the
    // digits below eps * s_max^2.
    const RowMatrix m = weighted_interaction_matrix(w, r.u.col(i));
    const double norm = m.norm();
    r.s[i] = norm;
    if (norm > 0) r.vh.row(i) = Eigen::Map<const Eigen::RowVectorXd>(m.data(), n2) / norm;
  }
  return r;
}

FlattenedSvd from_dense(const ModelWeights& w, int64_t k, FlattenedSvd r) {
  const int64_t H = r.d_out, n2 = r.side * r.side;
  Eigen::MatrixXd t(H, n2);
  for (int64_t i = 0; i < H; ++i) {
    const RowMatrix m = unit_interaction_matrix(w, i);
    t.row(i) = Eigen::Map<const Eigen::RowVectorXd>(m.data(), n2);
  }
  r.frobenius_sq = t.squaredNorm();
  ThinSvd svd = bdc_thin_svd(t, k);
  r.u = std::move(svd.u);
  r.s = std::move(svd.values);
  r.vh = svd.v.transpose();
  for (int64_t i = 0; i < k; ++i)
    if (r.s[i] == 0) r.vh.row(i).setZero();
  fix_signs(&r.u, &r.vh);
  return r;
}

}  // namespace

FlattenedSvd flattened_svd(const ModelWeights& w, int64_t top_k) {
  FlattenedSvd r;
  r.d_out = w.hidden_dim();
  r.side = interaction_matrix_size(w);
  const int64_t n2 = r.side * r.side;
  const int64_t k = std::max<int64_t>(0, std::min({top_k, r.d_out, n2}));
  r.method = r.d_out > n2 ? "bdcsvd" : "gram";
  return r.d_out > n2 ? from_dense(w, k, r) : from_gram(w, k, r);
}

int64_t flattened_svd_bytes(const ModelSpec& spec, int64_t top_k) {
  const int64_t P = spec.mod_basis, H = spec.hidden_dim;
  const InteractionForm* form = interaction_form(spec);
  if (form == nullptr) return 0;  // nothing to decompose: analyze --hosvd refuses it after loading
  const int64_t n = form->side(P);
  const int64_t n2 = n * n, k = std::min({top_k, H, n2});
  // The result: Vh in double, its float copy and the serialized file's bytes; one weighted matrix and its copy at a time.
  int64_t bytes = k * n2 * (8 + 4 + 4) + H * k * 16 + 3 * n2 * 8;
  if (H > n2) {
    bytes += 4 * H * n2 * 8 + n2 * n2 * 8;  // T, BDCSVD's copy and workspace, U; V (n^2 x n^2)
  } else {
    bytes += 8 * H * H * 8;  // G, the closed forms' H x H products, the eigensolver's copy, eigenvectors and workspace
    bytes += form->unit_gram_bytes(H, n2);  // bilinear's block of columns
  }
  return bytes;
}

}  // namespace bilmod
