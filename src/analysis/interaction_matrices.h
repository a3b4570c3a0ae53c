// Interaction matrices (docs/MODELS.md "Analysis"): the quadratic forms through which a bilinear model computes.
//   bilinear: per unit W_k = W[k] (P x P, rows a, columns b); per class M_c = sum_k U[c,k] W_k (ignores the ReLU).
//   factored: per unit Q_k = (l_k r_k^T + r_k l_k^T) / 2 (2P x 2P), h_k = x^T Q_k x exactly;
//             per class Q(c) = sum_k U[c,k] Q_k, logit_c = x^T Q(c) x exactly.
//   mlp --activation quad: per unit Q_k = v_k v_k^T over the augmented input [x; 1] (2P+1 x 2P+1), v_k = [w_k; b_k],
//             so h_k = (w_k.x + b_k)^2 = [x;1]^T Q_k [x;1] exactly; per class Q(c) = sum_k U[c,k] Q_k and
//             logit_c = [x;1]^T Q(c) [x;1] + c_c exactly. The last row and column (index 2P) are the bias's.
//   mlp --activation relu: none (relu(w.x + b) is not a quadratic form).
// Spectra are of the symmetric part (W + W^T)/2, eigenvalues sorted by |lambda|, largest first. Each form is computed
// by its own file (analysis/interaction_form.h); these functions ask w.form.
#pragma once
#include <cstdint>

#include <Eigen/Dense>

#include "analysis/interaction_form.h"
#include "analysis/model_weights.h"

namespace bilmod {

// Whether spec's model has interaction matrices (a form: analysis/interaction_form.h).
bool has_interaction_matrices(const ModelSpec& spec);
// The side of every interaction matrix of w's form: P for bilinear, 2P for factored, 2P + 1 for mlp quad.
int64_t interaction_matrix_size(const ModelWeights& w);

// W_k or Q_k; (P, P), (2P, 2P) or (2P+1, 2P+1).
RowMatrix unit_interaction_matrix(const ModelWeights& w, int64_t unit);
// sum_k u_k W_k or sum_k u_k Q_k for any weights u (H,): a class's matrix with u = U[c, :], a flattened SVD's
// right singular vector with u = its left one.
RowMatrix weighted_interaction_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u);
// M_c or Q(c); (P, P), (2P, 2P) or (2P+1, 2P+1).
RowMatrix class_interaction_matrix(const ModelWeights& w, int64_t output_class);

// A unit's spectrum: the closed forms of factored (rank 2: (l.r +- |l||r|) / 2 along l/|l| +- r/|r|) and mlp quad
// (rank 1: |v_k|^2 along v_k/|v_k|), which return only their nonzero eigenpairs, and the dense solve of bilinear's W_k.
SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit);
// The spectrum of a class's interaction matrix M_c or Q(c). Where the form factors every weighted matrix as
// B S(u) B^T with B (side, rank), rank < side and side > kLowRankSide, it avoids the side^3 dense solve: with B = QR
// (thin, once per model) the nonzero eigenpairs are those of the rank x rank matrix R S R^T, eigenvectors mapped back
// by Q, and only those are returned (sorted); the others are 0. factored: B = [L^T R^T] (2P x 2H); mlp quad:
// B = V^T = [W b]^T (2P+1 x H). Smaller matrices take the dense solve.
constexpr int64_t kLowRankSide = 512;
struct ClassSpectra {
  explicit ClassSpectra(const ModelWeights& w);
  SymmetricSpectrum operator()(int64_t output_class) const;
  const ModelWeights& weights;
  bool low_rank = false;
  Eigen::MatrixXd q;  // (side, rank) orthonormal columns spanning B's
  Eigen::MatrixXd r;  // (rank, rank)
};
// Whether ClassSpectra takes the low-rank route for this form, P and H (analysis/analysis_memory.cc counts it).
bool low_rank_class_spectra(const InteractionForm& form, int64_t mod_basis, int64_t hidden_dim);

// Singular values of m, largest first (BDCSVD).
Eigen::VectorXd singular_values(const RowMatrix& m);

// m = sum_i values[i] left.col(i) right.col(i)^T, values largest first: the upstream's per-class SVD
// (singular_vectors_output_{c}).
struct SingularTriplets {
  Eigen::VectorXd values;
  Eigen::MatrixXd left, right;  // (rows, r), (cols, r)
};
SingularTriplets singular_triplets(const RowMatrix& m);  // BDCSVD, thin
// A symmetric matrix's, from its spectrum sorted by |lambda| (ClassSpectra's, low-rank route included):
// sigma_i = |lambda_i|, left_i = e_i, right_i = sign(lambda_i) e_i.
SingularTriplets singular_triplets(const SymmetricSpectrum& s);

}  // namespace bilmod
