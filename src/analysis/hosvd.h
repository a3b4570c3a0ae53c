// The upstream's flattened SVD of a model's bilinear tensor (docs/MODELS.md "Flattened SVD", `bilmod analyze --hosvd`):
// the tensor T (d_out, n, n) of per-unit interaction matrices reshaped to (d_out, n*n), its top-k singular triplets
// T = U S Vh. Row i of Vh, reshaped n x n, is the input interaction matrix that output direction U[:, i] reads.
//   bilinear: T = bilinear.weight (H, P, P); the upstream's direct model has H = P.
//   factored: T[k] = Q_k = (l_k r_k^T + r_k l_k^T)/2 (H, 2P, 2P).
//   mlp quad: T[k] = Q_k = v_k v_k^T over [x; 1] (H, 2P+1, 2P+1).
// Computed from the (d_out x d_out) Gram matrix T T^T (entry (i, j) = <T_i, T_j>, in closed form for factored and
// quad), so nothing of size d_out x n^2 is formed; when d_out > n^2 the flattened matrix is smaller than its Gram
// and takes BDCSVD directly.
#pragma once
#include <cstdint>
#include <string>

#include <Eigen/Dense>

#include "analysis/model_weights.h"

namespace bilmod {

struct FlattenedSvd {
  int64_t d_out = 0;        // hidden units H (the bilinear layer's outputs)
  int64_t side = 0;         // n: P, 2P or 2P+1
  std::string method;       // "gram" or "bdcsvd"
  Eigen::MatrixXd u;        // (d_out, k) left singular vectors, columns
  Eigen::VectorXd s;        // (k,) largest first
  RowMatrix vh;             // (k, n*n) right singular vectors, rows; row i reshaped (n, n) row-major
  double frobenius_sq = 0;  // ||T||_F^2 = the sum of all singular values squared
};

// The top min(top_k, d_out, n^2) triplets. Signs: each U column's entry of largest magnitude is positive (numpy's are
// arbitrary; compare up to sign). A singular value of exactly 0 leaves its Vh row 0.
FlattenedSvd flattened_svd(const ModelWeights& w, int64_t top_k);

// Peak bytes of flattened_svd and of writing its result (analysis/analysis_memory.h adds them).
int64_t flattened_svd_bytes(const ModelSpec& spec, int64_t top_k);

}  // namespace bilmod
