#include "analysis/decompositions.h"

namespace bilmod {

SelfAdjointEigen self_adjoint_eigen(const Eigen::MatrixXd& symmetric) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(symmetric);
  return {solver.eigenvalues(), solver.eigenvectors()};
}

Eigen::VectorXd bdc_singular_values(const Eigen::MatrixXd& m) {
  Eigen::BDCSVD<Eigen::MatrixXd> svd(m);
  return svd.singularValues();
}

ThinSvd bdc_thin_svd(const Eigen::MatrixXd& m, Eigen::Index k) {
  Eigen::BDCSVD<Eigen::MatrixXd> svd(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
  return {svd.singularValues().head(k), svd.matrixU().leftCols(k), svd.matrixV().leftCols(k)};
}

}  // namespace bilmod
