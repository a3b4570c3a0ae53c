// --model bilinear's forms: unit k's pre-activation is W_k[a, b] = e_a^T W_k e_b, W_k = bilinear.weight[k] (P x P,
// rows a, columns b); M_c = sum_k U[c,k] W_k. W_k is not symmetric: spectra are of (W + W^T)/2.
#include <algorithm>

#include "analysis/interaction_form.h"

namespace bilmod {
namespace {

// Columns of the flattened weight copied at a time into one dense block for a rank update: a GEMM, not H^2 separate
// dot products (the direct model at P = 997 has H = P and 10^6 columns).
constexpr int64_t kGramBlock = 4096;

class BilinearForm final : public InteractionForm {
 public:
  int64_t side(int64_t P) const override { return P; }
  bool over_blocks() const override { return false; }
  bool dense_unit_spectra() const override { return true; }

  // Bias-free models (the upstream's) read as zero biases.
  void read(const ParameterLayout& layout, const std::vector<float>& params, ModelWeights* w) const override {
    const int64_t P = w->mod_basis(), H = w->hidden_dim();
    const std::vector<double> weight = torch_order_values(layout, params, "bilinear.weight");  // (H, P, P)
    w->unit_weight.reserve(static_cast<size_t>(H));
    for (int64_t k = 0; k < H; ++k)
      w->unit_weight.push_back(Eigen::Map<const RowMatrix>(weight.data() + k * P * P, P, P));
    w->input_bias = layout.find("bilinear.bias") ? as_vector(torch_order_values(layout, params, "bilinear.bias"))
                                                 : Eigen::VectorXd(Eigen::VectorXd::Zero(H));
    w->output_bias = layout.find("output.bias") ? as_vector(torch_order_values(layout, params, "output.bias"))
                                                : Eigen::VectorXd(Eigen::VectorXd::Zero(P));
  }

  RowMatrix unit_matrix(const ModelWeights& w, int64_t unit) const override {
    return w.unit_weight[static_cast<size_t>(unit)];
  }

  RowMatrix weighted_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u) const override {
    RowMatrix m = RowMatrix::Zero(w.mod_basis(), w.mod_basis());
    for (int64_t k = 0; k < w.hidden_dim(); ++k) m += u[k] * w.unit_weight[static_cast<size_t>(k)];
    return m;
  }

  SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit) const override {
    return symmetric_spectrum(unit_matrix(w, unit));
  }

  Eigen::MatrixXd unit_gram(const ModelWeights& w) const override {
    const int64_t H = w.hidden_dim(), n2 = w.mod_basis() * w.mod_basis();
    Eigen::MatrixXd g = Eigen::MatrixXd::Zero(H, H);
    Eigen::MatrixXd block(H, std::min(kGramBlock, n2));
    for (int64_t c0 = 0; c0 < n2; c0 += kGramBlock) {
      const int64_t width = std::min(kGramBlock, n2 - c0);
      for (int64_t k = 0; k < H; ++k)  // W_k is row-major, so its flat index a*P + b is numpy's reshape
        block.row(k).head(width) =
            Eigen::Map<const Eigen::RowVectorXd>(w.unit_weight[static_cast<size_t>(k)].data() + c0, width);
      g.selfadjointView<Eigen::Lower>().rankUpdate(block.leftCols(width));
    }
    return g.selfadjointView<Eigen::Lower>();
  }
  int64_t unit_gram_bytes(int64_t H, int64_t n2) const override { return H * std::min(kGramBlock, n2) * 8; }

  std::string tensor_name(const ModelSpec& spec) const override {
    return spec.output_projection ? "bilinear.weight (H, P, P)" : "bilinear.weight (P, P, P), the logits' own tensor";
  }
  std::string x_axis() const override { return "input b"; }
  std::string y_axis() const override { return "input a"; }
  std::string unit_grid_caption() const override {
    return "W_k = bilinear.weight[k] (rows a, columns b): unit k's pre-activation is W_k[a, b] + bias_k. Diverging "
           "colour "
           "map centred at 0. On this model every (a, b) owns its own entry, so an unseen pair's entry only decays.";
  }
  std::string unit_spectrum_caption() const override {
    return "Eigenvalues of each unit's symmetric part (W_k + W_k^T)/2 (numpy's eigvalsh would read only one triangle "
           "of W_k). "
           "Left: all P per unit; right: all units' eigenvalues pooled and sorted by magnitude, each sign separately.";
  }
  std::string unit_rank_note() const override { return ""; }
  std::string class_grid_caption() const override {
    return "M_c = sum_k U[c,k] W_k, the output layer applied to the units' matrices. This ignores the ReLU between the "
           "layers, so it describes the logits only where every unit is active.";
  }
};

}  // namespace

const InteractionForm& bilinear_form() {
  static const BilinearForm form;
  return form;
}

}  // namespace bilmod
