// --model factored: two bias-free nn.Linear(2P, H), L and R, on the concatenated one-hots [e_a; e_b], their product
// h = (L x) * (R x), and a bias-free nn.Linear(H, P): l = L[:, a] + L[:, P + b], likewise r. docs/MODELS.md "factored".
#include "model/hidden_layer.h"

namespace bilmod {
namespace {

class Factored final : public hidden_layer::Model {
 public:
  Factored() : hidden_layer::Model("factored", true) {}

  void add_parameters(const ModelSpec& spec, ParameterLayout* layout) const override {
    const int64_t p = spec.mod_basis, h = spec.hidden_dim;
    add_uniform_parameter(layout, "left.weight", {h, 2 * p}, true, 2.0 * static_cast<double>(p));
    add_uniform_parameter(layout, "right.weight", {h, 2 * p}, true, 2.0 * static_cast<double>(p));
    add_uniform_parameter(layout, "output.weight", {p, h}, true, static_cast<double>(h));
  }

  std::vector<ModelSpec> saved_variants() const override {
    ModelSpec spec;
    spec.kind = ModelKind::kFactored;
    return {spec};
  }

  ParameterViews views(const ParameterLayout& layout, float* buffer) const override {
    return hidden_layer::views(layout, buffer, "left.weight", "right.weight", nullptr);
  }

  void forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
               int64_t n, BatchActivations* act) const override {
    const ParameterViews w = views(layout, const_cast<float*>(params));
    const int64_t H = spec.hidden_dim, P = spec.mod_basis;
    hidden_layer::forward(spec, w, n, act,
                          [&](int64_t e, float* __restrict l, float* __restrict r, float* __restrict h) {
      const int64_t a = pairs[e] / P, b = P + pairs[e] % P;  // rows a and P + b
      const float *la = w.input_a + a * H, *lb = w.input_a + b * H;
      const float *ra = w.input_b + a * H, *rb = w.input_b + b * H;
      for (int64_t k = 0; k < H; ++k) {
        l[k] = la[k] + lb[k];
        r[k] = ra[k] + rb[k];
        h[k] = l[k] * r[k];
      }
    });
  }

  // dl = dh * r into left.weight's rows a and P + b, dr = dh * l into right.weight's (row slots 2P + a, 2P + P + b).
  void backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                int64_t n, BatchActivations* act, float* grads) const override {
    const ParameterViews w = views(layout, const_cast<float*>(params)), g = views(layout, grads);
    hidden_layer::output_backward_into_hidden(spec, w, g, n, false, act);
    const int64_t H = spec.hidden_dim, P = spec.mod_basis;
    const float *dhidden = act->dhidden.data(), *pre_a = act->pre_a.data(), *pre_b = act->pre_b.data();
    hidden_layer::input_backward(spec, n, 4 * P, nullptr, [&](int64_t e, hidden_layer::RowOwner& owner) {
      const int64_t a = pairs[e] / P, b = P + pairs[e] % P;
      const float *dh = dhidden + e * H, *l = pre_a + e * H, *r = pre_b + e * H;
      owner.row(hidden_layer::add_product, a, g.input_a + a * H, dh, r);
      owner.row(hidden_layer::add_product, b, g.input_a + b * H, dh, r);
      owner.row(hidden_layer::add_product, 2 * P + a, g.input_b + a * H, dh, l);
      owner.row(hidden_layer::add_product, 2 * P + b, g.input_b + b * H, dh, l);
    });
  }

  std::vector<const ParameterInfo*> input_embeddings(const ParameterLayout& layout) const override {
    return {layout.find("left.weight"), layout.find("right.weight")};
  }

  // h = l * r has no activation and no bias.
  QuadraticForm quadratic_form(const ModelSpec&) const override { return QuadraticForm::kSymmetricProducts; }
  bool has_activation() const override { return false; }
  bool has_bias(const ModelSpec&) const override { return false; }
  std::string input_weights(const ModelSpec&) const override {
    return "L and R, over their a and b blocks and every unit";
  }
  std::string analysis_note(const ModelSpec&) const override { return ""; }
};

}  // namespace

const Model& factored_model() {  // model/registry.cc
  static const Factored model;
  return model;
}

}  // namespace bilmod
