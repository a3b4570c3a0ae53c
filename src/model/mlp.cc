// --model mlp: nn.Linear(2P, H) on the concatenated one-hots [e_a; e_b], then ReLU or x^2 (--activation quad), and
// nn.Linear(H, P): z = W[:, a] + W[:, P + b] + bias. docs/MODELS.md "mlp".
#include "model/hidden_layer.h"

namespace bilmod {
namespace {

class Mlp final : public hidden_layer::Model {
 public:
  Mlp() : hidden_layer::Model("mlp", false) {}

  void add_parameters(const ModelSpec& spec, ParameterLayout* layout) const override {
    const int64_t p = spec.mod_basis, h = spec.hidden_dim;
    add_uniform_parameter(layout, "hidden.weight", {h, 2 * p}, true, 2.0 * static_cast<double>(p));
    add_uniform_parameter(layout, "hidden.bias", {h}, false, 2.0 * static_cast<double>(p));
    add_uniform_parameter(layout, "output.weight", {p, h}, true, static_cast<double>(h));
    add_uniform_parameter(layout, "output.bias", {p}, false, static_cast<double>(h));
  }

  std::vector<ModelFlag> flags() const override { return {{"activation", "relu or quad (x^2)"}}; }
  std::vector<Activation> activations() const override { return {Activation::kRelu, Activation::kQuad}; }
  std::vector<ModelSpec> saved_variants() const override {
    ModelSpec spec;
    spec.kind = ModelKind::kMlp;
    return {spec};
  }

  ParameterViews views(const ParameterLayout& layout, float* buffer) const override {
    return hidden_layer::views(layout, buffer, "hidden.weight", nullptr, "hidden.bias");
  }

  void forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
               int64_t n, BatchActivations* act) const override {
    const ParameterViews w = views(layout, const_cast<float*>(params));
    const int64_t H = spec.hidden_dim, P = spec.mod_basis;
    const bool relu = spec.activation == Activation::kRelu;
    hidden_layer::forward(spec, w, n, act, [&](int64_t e, float* __restrict z, float*, float* __restrict h) {
      const float *wa = w.input_a + (pairs[e] / P) * H, *wb = w.input_a + (P + pairs[e] % P) * H;
      for (int64_t k = 0; k < H; ++k) {
        z[k] = (wa[k] + wb[k]) + w.input_bias[k];
        h[k] = relu ? (z[k] > 0.0f ? z[k] : 0.0f) : z[k] * z[k];
      }
    });
  }

  // dL/dz into hidden.weight's rows a and P + b and into hidden.bias; relu' = [z > 0], quad' = 2z.
  void backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                int64_t n, BatchActivations* act, float* grads) const override {
    const ParameterViews w = views(layout, const_cast<float*>(params)), g = views(layout, grads);
    const bool relu = spec.activation == Activation::kRelu;
    hidden_layer::output_backward_into_hidden(spec, w, g, n, relu, act);
    const int64_t H = spec.hidden_dim, P = spec.mod_basis;
    const float *dhidden = act->dhidden.data(), *pre_a = act->pre_a.data();
    const auto add = relu ? hidden_layer::add_relu_backward : hidden_layer::add_quad_backward;
    hidden_layer::input_backward(spec, n, 2 * P, g.input_bias, [&](int64_t e, hidden_layer::RowOwner& owner) {
      const int64_t a = pairs[e] / P, b = P + pairs[e] % P;
      const float *dh = dhidden + e * H, *z = pre_a + e * H;
      owner.row(add, a, g.input_a + a * H, dh, z);
      owner.row(add, b, g.input_a + b * H, dh, z);
      if (owner.has_bias()) owner.bias(add, dh, z);
    });
  }

  std::vector<const ParameterInfo*> input_embeddings(const ParameterLayout& layout) const override {
    return {layout.find("hidden.weight")};
  }

  // Units (w.x + b)^2 are quadratic forms over [x; 1]; relu(w.x + b) is none.
  QuadraticForm quadratic_form(const ModelSpec& spec) const override {
    return spec.activation == Activation::kQuad ? QuadraticForm::kSquares : QuadraticForm::kNone;
  }
  std::string input_weights(const ModelSpec&) const override {
    return "hidden.weight, over its a and b blocks and every unit";
  }
  std::string analysis_note(const ModelSpec& spec) const override {
    if (spec.activation == Activation::kQuad)
      return "mlp quad: Q_k = v_k v_k^T over [x; 1] (2P+1 square, v_k = [w_k; b_k], the last row and column the "
             "bias's), h_k = [x;1]^T Q_k [x;1] exactly; Q(c) = sum_k U[c,k] Q_k and logit_c = [x;1]^T Q(c) [x;1] + "
             "output.bias[c] exactly. Eigenvector frequencies are read on the a and b blocks";
    return "mlp relu: no interaction matrices (relu(w.x + b) is not a quadratic form; --activation quad is); "
           "its input weights' and logits' Fourier spectra are reported";
  }
};

}  // namespace

const Model& mlp_model() {  // model/registry.cc
  static const Mlp model;
  return model;
}

}  // namespace bilmod
