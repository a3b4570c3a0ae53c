// --model factored's forms: Q_k = (l_k r_k^T + r_k l_k^T)/2 over x = [e_a; e_b] (2P x 2P), so h_k = (l_k.x)(r_k.x) =
// x^T Q_k x exactly; Q(c) = sum_k U[c,k] Q_k and logit_c = x^T Q(c) x (no biases). Rank 2 per unit, 2H per class.
#include "analysis/interaction_form.h"

namespace bilmod {
namespace {

class FactoredForm final : public InteractionForm {
 public:
  int64_t side(int64_t P) const override { return 2 * P; }
  bool over_blocks() const override { return true; }
  void read(const ParameterLayout&, const std::vector<float>&, ModelWeights*) const override {}  // L, R: its embeddings

  RowMatrix unit_matrix(const ModelWeights& w, int64_t unit) const override {
    const Eigen::VectorXd l = w.left.row(unit).transpose(), r = w.right.row(unit).transpose();  // (2P,)
    return 0.5 * (l * r.transpose() + r * l.transpose());
  }

  // (L^T diag(u) R + R^T diag(u) L) / 2: two (2P x H)(H x 2P) products.
  RowMatrix weighted_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u) const override {
    const RowMatrix half = w.left.transpose() * u.asDiagonal() * w.right;  // (2P, 2P)
    return 0.5 * (half + half.transpose());
  }

  // (l r^T + r l^T)/2 (l/|l| +- r/|r|) = (l.r +- |l||r|)/2 (l/|l| +- r/|r|): the two nonzero eigenpairs.
  SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit) const override {
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
    const Eigen::VectorXd lh = l / nl, rh = r / nr;
    const double dot = l.dot(r);
    values << 0.5 * (dot + nl * nr), 0.5 * (dot - nl * nr);
    const Eigen::VectorXd plus = lh + rh, minus = lh - rh;
    // When l is parallel to r one of the two directions vanishes (and so does its eigenvalue).
    vectors.col(0) = plus.norm() > 0 ? Eigen::VectorXd(plus.normalized()) : Eigen::VectorXd(minus.normalized());
    vectors.col(1) = minus.norm() > 0 ? Eigen::VectorXd(minus.normalized()) : Eigen::VectorXd(plus.normalized());
    return sorted_by_magnitude(values, vectors);
  }

  // B = [L^T R^T] (2P x 2H), S = [[0, diag(u)/2], [diag(u)/2, 0]]: R S R^T = (R_l D R_r^T + R_r D R_l^T) / 2.
  int64_t factor_rank(int64_t H) const override { return 2 * H; }
  Eigen::MatrixXd factor(const ModelWeights& w) const override {
    const int64_t H = w.hidden_dim();
    Eigen::MatrixXd b(w.left.cols(), 2 * H);
    b.leftCols(H) = w.left.transpose();
    b.rightCols(H) = w.right.transpose();
    return b;
  }
  Eigen::MatrixXd reduced(const Eigen::MatrixXd& r, const Eigen::VectorXd& u) const override {
    const Eigen::Index H = u.size();
    const Eigen::MatrixXd rl = r.leftCols(H), rr = r.rightCols(H);
    const Eigen::MatrixXd half = rl * u.asDiagonal() * rr.transpose();
    return 0.5 * (half + half.transpose());
  }

  // <(l_i r_i^T + r_i l_i^T)/2, (l_j r_j^T + r_j l_j^T)/2> = ((l_i.l_j)(r_i.r_j) + (l_i.r_j)(r_i.l_j)) / 2.
  Eigen::MatrixXd unit_gram(const ModelWeights& w) const override {
    const Eigen::MatrixXd ll = w.left * w.left.transpose(), rr = w.right * w.right.transpose();
    const Eigen::MatrixXd lr = w.left * w.right.transpose();
    return 0.5 * (ll.cwiseProduct(rr) + lr.cwiseProduct(lr.transpose()));
  }

  std::string tensor_name(const ModelSpec&) const override { return "Q_k = (l_k r_k^T + r_k l_k^T)/2 (H, 2P, 2P)"; }
  std::string x_axis() const override { return "x = [e_a; e_b]: a 0..P-1 | b P..2P-1"; }
  std::string y_axis() const override { return "x = [e_a; e_b]"; }
  std::string unit_grid_caption() const override {
    return "Q_k = (l_k r_k^T + r_k l_k^T)/2 over x = [e_a; e_b] (2P x 2P, the lines split the a and b blocks): hidden "
           "unit k "
           "computes h_k = x^T Q_k x exactly. Diverging colour map centred at 0.";
  }
  std::string unit_spectrum_caption() const override {
    return "Each Q_k has rank 2: eigenvalues (l_k.r_k +- |l_k||r_k|)/2 along l_k/|l_k| +- r_k/|r_k|, the other 2P-2 "
           "are 0. "
           "Left: both per unit; right: all units' eigenvalues pooled and sorted by magnitude, each sign separately.";
  }
  std::string unit_rank_note() const override { return " A factored unit has rank 2, so only two eigenvectors exist."; }
  std::string class_grid_caption() const override {
    return "Q(c) = sum_k U[c,k] Q_k: logit_c = x^T Q(c) x exactly (the factored model has no biases).";
  }
};

}  // namespace

const InteractionForm& factored_form() {
  static const FactoredForm form;
  return form;
}

}  // namespace bilmod
