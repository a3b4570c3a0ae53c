// --model mlp --activation quad's forms: Q_k = v_k v_k^T over [x; 1] (2P+1 square), v_k = [w_k; b_k], so h_k =
// (w_k.x + b_k)^2 = [x;1]^T Q_k [x;1] exactly; Q(c) = sum_k U[c,k] Q_k and logit_c = [x;1]^T Q(c) [x;1] + c_c. The last
// row and column (index 2P) are the bias's. Rank 1 per unit, H per class.
#include "analysis/interaction_form.h"

namespace bilmod {
namespace {

// V = [hidden.weight hidden.bias] (H, 2P+1), row k = v_k, the affine map on [x; 1].
RowMatrix augmented_weights(const ModelWeights& w) {
  RowMatrix v(w.hidden_dim(), w.left.cols() + 1);
  v.leftCols(w.left.cols()) = w.left;
  v.col(w.left.cols()) = w.input_bias;
  return v;
}

class QuadraticMlpForm final : public InteractionForm {
 public:
  int64_t side(int64_t P) const override { return 2 * P + 1; }
  bool over_blocks() const override { return true; }
  void read(const ParameterLayout& layout, const std::vector<float>& params, ModelWeights* w) const override {
    w->input_bias = as_vector(torch_order_values(layout, params, "hidden.bias"));
    w->output_bias = as_vector(torch_order_values(layout, params, "output.bias"));
  }

  RowMatrix unit_matrix(const ModelWeights& w, int64_t unit) const override {
    Eigen::VectorXd v(w.left.cols() + 1);
    v << w.left.row(unit).transpose(), w.input_bias[unit];
    return v * v.transpose();
  }

  // V^T diag(u) V: one (2P+1 x H)(H x 2P+1) product.
  RowMatrix weighted_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u) const override {
    const RowMatrix v = augmented_weights(w);
    return v.transpose() * u.asDiagonal() * v;
  }

  // |v_k|^2 along v_k/|v_k|, the only nonzero eigenvalue, returned alone.
  SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit) const override {
    Eigen::VectorXd v(w.left.cols() + 1);
    v << w.left.row(unit).transpose(), w.input_bias[unit];
    SymmetricSpectrum s;
    s.eigenvalues = Eigen::VectorXd::Constant(1, v.squaredNorm());
    s.eigenvectors = Eigen::MatrixXd::Zero(v.size(), 1);
    if (v.norm() > 0)
      s.eigenvectors.col(0) = v.normalized();
    else
      s.eigenvectors(0, 0) = 1;
    return s;
  }

  // B = V^T, S = diag(u): R diag(u) R^T, already symmetric.
  int64_t factor_rank(int64_t H) const override { return H; }
  Eigen::MatrixXd factor(const ModelWeights& w) const override { return augmented_weights(w).transpose(); }
  Eigen::MatrixXd reduced(const Eigen::MatrixXd& r, const Eigen::VectorXd& u) const override {
    return r * u.asDiagonal() * r.transpose();
  }

  // <v_i v_i^T, v_j v_j^T> = (v_i.v_j)^2.
  Eigen::MatrixXd unit_gram(const ModelWeights& w) const override {
    const RowMatrix v = augmented_weights(w);
    const Eigen::MatrixXd vv = v * v.transpose();
    return vv.cwiseProduct(vv);
  }

  std::string tensor_name(const ModelSpec&) const override {
    return "Q_k = v_k v_k^T over [x; 1], v_k = [w_k; b_k] (H, 2P+1, 2P+1)";
  }
  std::string x_axis() const override { return "[x; 1]: a 0..P-1 | b P..2P-1 | bias 2P"; }
  std::string y_axis() const override { return "[x; 1] = [e_a; e_b; 1]"; }
  std::string unit_grid_caption() const override {
    return "Q_k = v_k v_k^T over [x; 1] = [e_a; e_b; 1], v_k = [hidden.weight[k]; hidden.bias[k]] (2P+1 square; the "
           "lines "
           "split the a block, the b block and the bias's last row and column): unit k computes (w_k.x + b_k)^2 = "
           "[x;1]^T Q_k [x;1] exactly. Diverging colour map centred at 0.";
  }
  std::string unit_spectrum_caption() const override {
    return "Each Q_k = v_k v_k^T has rank 1: one eigenvalue |v_k|^2 along v_k/|v_k|, the other 2P are 0. Left: per "
           "unit; "
           "right: all units' eigenvalues sorted by magnitude.";
  }
  std::string unit_rank_note() const override {
    return " An mlp quad unit has rank 1: its one eigenvector is v_k/|v_k|, the last entry the bias's.";
  }
  std::string class_grid_caption() const override {
    return "Q(c) = sum_k U[c,k] Q_k over [x; 1]: logit_c = [x;1]^T Q(c) [x;1] + output.bias[c] exactly. The last row "
           "and "
           "column (after the second line) hold the hidden biases' terms: sum_k U[c,k] b_k w_k in each (so the form "
           "counts it "
           "twice) and sum_k U[c,k] b_k^2 in the corner.";
  }
};

}  // namespace

const InteractionForm& quadratic_mlp_form() {
  static const QuadraticMlpForm form;
  return form;
}

}  // namespace bilmod
