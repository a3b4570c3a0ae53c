// Interaction matrices (docs/MODELS.md "Analysis"): the quadratic forms through which a bilinear model computes.
//   bilinear: per unit W_k = W[k] (P x P, rows a, columns b); per class M_c = sum_k U[c,k] W_k (ignores the ReLU).
//   factored: per unit Q_k = (l_k r_k^T + r_k l_k^T) / 2 (2P x 2P), h_k = x^T Q_k x exactly;
//             per class Q(c) = sum_k U[c,k] Q_k, logit_c = x^T Q(c) x exactly.
//   mlp: none (its hidden layer is not a quadratic form).
// Spectra are of the symmetric part (W + W^T)/2, eigenvalues sorted by |lambda|, largest first.
#pragma once
#include <cstdint>

#include <Eigen/Dense>

#include "analysis/model_weights.h"

namespace bilmod {

bool has_interaction_matrices(ModelKind kind);
// P for bilinear, 2P for factored: the side of every interaction matrix.
int64_t interaction_matrix_size(const ModelWeights& w);

// W_k or Q_k; (P, P) or (2P, 2P).
RowMatrix unit_interaction_matrix(const ModelWeights& w, int64_t unit);
// M_c or Q(c); (P, P) or (2P, 2P).
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
// The spectrum of a class's interaction matrix M_c or Q(c). For a factored model whose Q(c) is larger than
// kLowRankSide and of rank <= 2H < 2P it avoids the (2P)^3 dense solve: Q(c) = B S B^T with B = [L^T R^T] (2P x 2H),
// S = [[0, diag(u_c)/2], [diag(u_c)/2, 0]]; with B = QR (thin, once per model) the nonzero eigenpairs are those of the
// 2H x 2H matrix R S R^T, eigenvectors mapped back by Q. Returns only those 2H (sorted); the other 2P - 2H are 0.
// Smaller matrices take the dense solve, as before.
constexpr int64_t kLowRankSide = 512;
struct ClassSpectra {
  explicit ClassSpectra(const ModelWeights& w);
  SymmetricSpectrum operator()(int64_t output_class) const;
  const ModelWeights& weights;
  bool low_rank = false;
  Eigen::MatrixXd q;  // (2P, 2H) orthonormal columns spanning B's
  Eigen::MatrixXd r;  // (2H, 2H)
};

// Singular values of m, largest first (BDCSVD).
Eigen::VectorXd singular_values(const RowMatrix& m);

}  // namespace bilmod
