// --model bilinear: nn.Bilinear(P, P, H) on one-hot a and b, so z = W[:, a, b] (+ bias): a lookup of one row per
// pair; then ReLU (the seed's) or nothing (the upstream's), and output.weight (P, H) (+ output.bias), or, without an
// output layer (the upstream's direct model), H = P and z is the logits. docs/MODELS.md "bilinear".
#include "model/hidden_layer.h"

namespace bilmod {
namespace {

class Bilinear final : public hidden_layer::Model {
 public:
  Bilinear() : hidden_layer::Model("bilinear", false) {}

  // Its variants named: "bilinear model with P = 113 and no output layer, without biases".
  std::string describe(const ModelSpec& spec) const override {
    std::string text = "bilinear model with P = " + std::to_string(spec.mod_basis);
    text += spec.output_projection ? ", H = " + std::to_string(spec.hidden_dim) : " and no output layer";
    if (!spec.bias) text += ", without biases";
    return text;
  }

  // nn.Bilinear(P, P, H): bound 1/sqrt(in1_features); without the output layer H = P.
  void add_parameters(const ModelSpec& spec, ParameterLayout* layout) const override {
    const int64_t p = spec.mod_basis, h = spec.hidden_dim, width = spec.output_projection ? h : p;
    add_uniform_parameter(layout, "bilinear.weight", {width, p, p}, true, static_cast<double>(p));
    if (spec.bias) add_uniform_parameter(layout, "bilinear.bias", {width}, false, static_cast<double>(p));
    if (spec.output_projection) {
      add_uniform_parameter(layout, "output.weight", {p, h}, true, static_cast<double>(h));
      if (spec.bias) add_uniform_parameter(layout, "output.bias", {p}, false, static_cast<double>(h));
    }
  }

  std::vector<ModelFlag> flags() const override {
    return {{"activation", "relu (the seed's) or none (the upstream's)"},
            {"bias", "no bias in the bilinear or the output layer (the seed's upstream)"},
            {"use_output_projection", "nn.Bilinear(P, P, P) straight to the logits; no activation, no output layer"}};
  }
  // ReLU (the seed's) or none (the upstream's); with and without biases and the output layer.
  std::vector<Activation> activations() const override { return {Activation::kRelu, Activation::kNone}; }
  bool has_variants() const override { return true; }
  // The seed's (biases and output layer), the upstream's (with the output layer, or the bilinear layer alone), and
  // the direct layer with a bias.
  std::vector<ModelSpec> saved_variants() const override {
    std::vector<ModelSpec> v;
    for (auto [bias, projection] : {std::pair{true, true}, {false, true}, {false, false}, {true, false}}) {
      ModelSpec spec;
      spec.kind = ModelKind::kBilinear;
      spec.bias = bias;
      spec.output_projection = projection;
      v.push_back(spec);
    }
    return v;
  }
  // Without the output layer, bilinear.weight is (P, P, P) and H = P.
  bool saved_sizes(const ModelSpec& variant, const std::map<std::string, std::vector<int64_t>>& shapes, int64_t* P,
                   int64_t* H, std::string* error) const override {
    if (variant.output_projection) return hidden_layer::Model::saved_sizes(variant, shapes, P, H, error);
    const std::vector<int64_t>& shape = shapes.at("bilinear.weight");
    if (shape.size() != 3 || shape[0] < 1) {
      *error = "bilinear.weight is not a (P, P, P) tensor";
      return false;
    }
    *P = *H = shape[0];
    return true;
  }
  // The seed's model (biases, no use_output_projection in its config) has a ReLU; the upstream's has none.
  Activation unnamed_activation(const ModelSpec& variant, bool names_projection, std::string* note) const override {
    const bool upstream = !variant.output_projection || names_projection || !variant.bias;
    note->clear();
    if (variant.output_projection)
      *note = upstream ? "no activation between the layers, as the upstream's model (the config names none)"
                       : "ReLU between the layers, as the seed's model (the config names no activation)";
    return upstream ? Activation::kNone : Activation::kRelu;
  }

  ParameterViews views(const ParameterLayout& layout, float* buffer) const override {
    return hidden_layer::views(layout, buffer, "bilinear.weight", nullptr, "bilinear.bias");
  }

  void forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
               int64_t n, BatchActivations* act) const override {
    const ParameterViews w = views(layout, const_cast<float*>(params));
    const int64_t H = spec.hidden_dim;
    const bool relu = spec.activation == Activation::kRelu;
    hidden_layer::forward(spec, w, n, act, [&](int64_t e, float* __restrict z, float*, float* __restrict h) {
      const float* wz = w.input_a + pairs[e] * H;  // row a*P + b: W[:, a, b]
      if (w.input_bias)
        for (int64_t k = 0; k < H; ++k) z[k] = wz[k] + w.input_bias[k];
      else
        for (int64_t k = 0; k < H; ++k) z[k] = wz[k];
      if (relu)
        for (int64_t k = 0; k < H; ++k) h[k] = z[k] > 0.0f ? z[k] : 0.0f;
      else
        for (int64_t k = 0; k < H; ++k) h[k] = z[k];
    });
  }

  // dL/dz into bilinear.weight's row a*P + b and into bilinear.bias; relu' = [z > 0].
  void backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                int64_t n, BatchActivations* act, float* grads) const override {
    const ParameterViews w = views(layout, const_cast<float*>(params)), g = views(layout, grads);
    const bool relu = spec.activation == Activation::kRelu;
    hidden_layer::output_backward_into_hidden(spec, w, g, n, relu, act);
    const int64_t H = spec.hidden_dim, P = spec.mod_basis;
    const float *dhidden = act->dhidden.data(), *pre_a = act->pre_a.data();
    const auto add = relu ? hidden_layer::add_relu_backward : hidden_layer::add_identity_backward;
    hidden_layer::input_backward(spec, n, P * P, g.input_bias, [&](int64_t e, hidden_layer::RowOwner& owner) {
      const float *dh = dhidden + e * H, *z = pre_a + e * H;
      owner.row(add, pairs[e], g.input_a + pairs[e] * H, dh, z);
      if (owner.has_bias()) owner.bias(add, dh, z);
    });
  }

  // One row of H per pair, and a batch reads only its pairs' rows.
  SparseRows sparse_rows(const ModelSpec& spec, const ParameterLayout& layout) const override {
    return {layout.find("bilinear.weight"), spec.mod_basis * spec.mod_basis, spec.hidden_dim};
  }

  QuadraticForm quadratic_form(const ModelSpec&) const override { return QuadraticForm::kUnitMatrices; }
  std::string input_weights(const ModelSpec&) const override { return "W along a and along b, over every unit"; }
  std::string analysis_note(const ModelSpec& spec) const override {
    if (!spec.output_projection)
      return "bilinear without output layer: M_c = W[c], logit_c = e_a^T W[c] e_b exactly; spectra are of the "
             "symmetric part (W + W^T)/2, singular values of W itself";
    if (spec.activation == Activation::kNone)
      return "bilinear without activation: logit_c = e_a^T M_c e_b + (U b + c)_c exactly, M_c = sum_k U[c,k] W_k; "
             "spectra are of the symmetric part (W + W^T)/2, singular values of W itself";
    return "bilinear: M_c = sum_k U[c,k] W_k ignores the ReLU between the layers; spectra are of the "
           "symmetric part (W + W^T)/2, singular values of W itself";
  }

  std::string notice() const override {
    return "--model bilinear cannot generalise: with one-hot inputs nn.Bilinear is a lookup table, every (a, b) pair "
           "owns its private vector W[:, a, b], and a pair never seen in training gets no gradient, only weight decay. "
           "Validation accuracy stays near 1/P however long it trains (it memorises). Use --model factored or --model "
           "mlp to see grokking.";
  }
};

}  // namespace

const Model& bilinear_model() {  // model/registry.cc
  static const Bilinear model;
  return model;
}

}  // namespace bilmod
