// Interaction matrices (docs/MODELS.md "Analysis"): the quadratic forms through which a bilinear model computes.
//   bilinear: per unit W_k = W[k] (P x P, rows a, columns b); per class M_c = sum_k U[c,k] W_k (ignores the ReLU).
//   factored: per unit Q_k = (l_k r_k^T + r_k l_k^T) / 2 (2P x 2P), h_k = x^T Q_k x exactly;
//             per class Q(c) = sum_k U[c,k] Q_k, logit_c = x^T Q(c) x exactly.
//   mlp --activation quad: per unit Q_k = v_k v_k^T over the augmented input [x; 1] (2P+1 x 2P+1), v_k = [w_k; b_k],
//             so h_k = (w_k.x + b_k)^2 = [x;1]^T Q_k [x;1] exactly; per class Q(c) = sum_k U[c,k] Q_k and
//             logit_c = [x;1]^T Q(c) [x;1] + c_c exactly. The last row and column (index 2P) are the bias's.
//   mlp --activation relu: none (relu(w.x + b) is not a quadratic form).
// Spectra are of the symmetric part (W + W^T)/2, eigenvalues sorted by |lambda|, largest first.
#pragma once
#include <cstdint>

#include <Eigen/Dense>

#include "analysis/model_weights.h"

namespace bilmod {

bool has_interaction_matrices(const ModelSpec& spec);
// The mlp whose units are squares of an affine map: its matrices live on [x; 1].
bool is_quadratic_mlp(const ModelSpec& spec);
// P for bilinear, 2P for factored, 2P + 1 for mlp quad: the side of every interaction matrix.
int64_t interaction_matrix_size(const ModelWeights& w);

// W_k or Q_k; (P, P), (2P, 2P) or (2P+1, 2P+1).
RowMatrix unit_interaction_matrix(const ModelWeights& w, int64_t unit);
// sum_k u_k W_k or sum_k u_k Q_k for any weights u (H,): a class's matrix with u = U[c, :], a flattened SVD's
// right singular vector with u = its left one.
RowMatrix weighted_interaction_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u);
// M_c or Q(c); (P, P), (2P, 2P) or (2P+1, 2P+1).
RowMatrix class_interaction_matrix(const ModelWeights& w, int64_t output_class);

struct SymmetricSpectrum {
  Eigen::VectorXd eigenvalues;   // (n,) sorted by |lambda|, largest first
  Eigen::MatrixXd eigenvectors;  // (n, n) column i belongs to eigenvalues[i], unit norm
};

// Eigendecomposition of (m + m^T) / 2 (Eigen's SelfAdjointEigenSolver), reordered by |lambda|.
SymmetricSpectrum symmetric_spectrum(const RowMatrix& m);
// The spectrum of a factored unit's Q_k without a 2P x 2P solve: Q_k has rank <= 2, with eigenvalues
// (l.r +- |l||r|) / 2 along l/|l| +- r/|r|; every other eigenvalue is 0. Returns only those two (sorted).
SymmetricSpectrum factored_unit_spectrum(const ModelWeights& w, int64_t unit);
// A unit's spectrum for any model: the closed forms of factored (rank 2) and mlp quad (rank 1: |v_k|^2 along
// v_k/|v_k|, the only nonzero eigenvalue, returned alone), the dense solve of bilinear's W_k.
SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit);
// The spectrum of a class's interaction matrix M_c or Q(c). For a factored model whose Q(c) is larger than
// kLowRankSide and of rank <= 2H < 2P it avoids the (2P)^3 dense solve: Q(c) = B S B^T with B = [L^T R^T] (2P x 2H),
// S = [[0, diag(u_c)/2], [diag(u_c)/2, 0]]; with B = QR (thin, once per model) the nonzero eigenpairs are those of the
// 2H x 2H matrix R S R^T, eigenvectors mapped back by Q. Returns only those 2H (sorted); the other 2P - 2H are 0.
// mlp quad likewise when H < 2P + 1: Q(c) = V^T diag(u_c) V, V = [W b] (H x 2P+1), so B = V^T and S = diag(u_c).
// Smaller matrices take the dense solve, as before.
constexpr int64_t kLowRankSide = 512;
struct ClassSpectra {
  explicit ClassSpectra(const ModelWeights& w);
  SymmetricSpectrum operator()(int64_t output_class) const;
  const ModelWeights& weights;
  bool low_rank = false;
  Eigen::MatrixXd q;  // (side, 2H) or (side, H) orthonormal columns spanning B's
  Eigen::MatrixXd r;  // (2H, 2H) or (H, H)
};

// Singular values of m, largest first (BDCSVD).
Eigen::VectorXd singular_values(const RowMatrix& m);

}  // namespace bilmod
