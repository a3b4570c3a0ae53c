// Eigen's dense decompositions, instantiated in this one file: they are the slowest templates of the whole build
// (each file that used them took ~40 s to compile), and the analysis calls them from several files.
#pragma once
#include <Eigen/Dense>

namespace bilmod {

// A symmetric matrix's eigenvalues, ascending, and unit eigenvectors (column i for value i): Eigen's
// SelfAdjointEigenSolver, which reads the lower triangle.
struct SelfAdjointEigen {
  Eigen::VectorXd values;
  Eigen::MatrixXd vectors;
};
SelfAdjointEigen self_adjoint_eigen(const Eigen::MatrixXd& symmetric);

// BDCSVD: singular values only, decreasing; or the first k of the thin U, values and V (k <= min(rows, cols)),
// copied out before the solver's own buffers are freed, as a caller holding the solver would.
Eigen::VectorXd bdc_singular_values(const Eigen::MatrixXd& m);
struct ThinSvd {
  Eigen::VectorXd values;  // (k,)
  Eigen::MatrixXd u, v;    // (rows, k), (cols, k)
};
ThinSvd bdc_thin_svd(const Eigen::MatrixXd& m, Eigen::Index k);

}  // namespace bilmod
