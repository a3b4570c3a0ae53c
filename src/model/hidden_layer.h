// What the one-hidden-layer models (bilinear, factored, mlp: model/<name>.cc) share: the hidden layer h is formed per
// example from the input-weight rows the pair (a, b) selects, then logits = U h + c (model/output_layer.h), or h
// itself where there is no output layer. Each model writes its own per-example forward and its own rows' backward;
// the loops around them, the output layer and the thread ownership of the gradient's rows live here, once.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "model/kernels.h"
#include "model/model.h"
#include "model/network.h"
#include "model/output_layer.h"

namespace bilmod::hidden_layer {

// Activations of n examples with H hidden units; pre_b only for a model with two pre-activations (factored).
void reserve(const ModelSpec& spec, int64_t n, bool two_pre_activations, BatchActivations* act);

// Bytes per example: pre-activations (two for factored), h, dL/dh, and the logits.
inline int64_t activation_bytes_per_pair(const ModelSpec& spec) { return (4 * spec.hidden_dim + spec.mod_basis) * 4; }

// The base of the three: their name and description, their activations (BatchActivations' pre_a, pre_b, hidden,
// dhidden, idle) and their bytes.
class Model : public bilmod::Model {
 public:
  Model(const char* name, bool two_pre_activations) : name_(name), two_pre_activations_(two_pre_activations) {}
  const char* name() const override { return name_; }
  // "factored model with P = 113, H = 100"
  std::string describe(const ModelSpec& spec) const override {
    return std::string(name_) + " model with P = " + std::to_string(spec.mod_basis) +
           ", H = " + std::to_string(spec.hidden_dim);
  }
  void reserve(const ModelSpec& spec, int64_t n, BatchActivations* act) const override {
    hidden_layer::reserve(spec, n, two_pre_activations_, act);
  }
  int64_t activation_bytes_per_pair(const ModelSpec& spec) const override {
    return hidden_layer::activation_bytes_per_pair(spec);
  }
  // output.weight is (P, H).
  bool saved_sizes(const ModelSpec&, const std::map<std::string, std::vector<int64_t>>& shapes, int64_t* P, int64_t* H,
                   std::string* error) const override {
    const std::vector<int64_t>& shape = shapes.at("output.weight");
    if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1) {
      *error = "output.weight is not a matrix";
      return false;
    }
    *P = shape[0];
    *H = shape[1];
    return true;
  }

 private:
  const char* name_;
  bool two_pre_activations_;
};

// views of the input weights (`input_a`, `input_b`, `input_bias`) and output.weight / output.bias of a flat buffer.
ParameterViews views(const ParameterLayout& layout, float* buffer, const char* input_a, const char* input_b,
                     const char* input_bias);

// h of every example: per_example(e, pre_a row, pre_b row or null, hidden row), in parallel over examples, then the
// output layer (or, without one, h as the logits).
template <class PerExample>
void forward(const ModelSpec& spec, const ParameterViews& w, int64_t n, BatchActivations* act, PerExample per_example) {
  const int64_t H = spec.hidden_dim;
  float* pre_b = act->pre_b.empty() ? nullptr : act->pre_b.data();
#pragma omp parallel for schedule(static) if (n * H * 8 > kParallelWorkThreshold)
  for (int64_t e = 0; e < n; ++e)
    per_example(e, act->pre_a.data() + e * H, pre_b ? pre_b + e * H : nullptr, act->hidden.data() + e * H);
  if (w.output_weight)
    output_forward(act->logits.data(), act->hidden.data(), w.output_weight, w.output_bias, n, H, spec.mod_basis);
  else  // the upstream's direct model: the bilinear layer's P outputs are the logits
    std::copy(act->hidden.begin(), act->hidden.begin() + n * H, act->logits.begin());
}

// idle[k] = 1 where z[e, k] > 0 for no e < n (NaN counts as not firing, as in the selects below).
void find_idle_units(const float* z, int64_t n, int64_t H, uint8_t* idle);

// The hidden layer's backward, added into one destination row: to[k] += dL/dz[k] for k < count.
// relu: dL/dz = [z > 0] dL/dh
inline void add_relu_backward(float* __restrict to, const float* __restrict dh, const float* __restrict z,
                              int64_t count) {
  for (int64_t k = 0; k < count; ++k) to[k] += z[k] > 0.0f ? dh[k] : 0.0f;
}
// no activation: dL/dz = dL/dh
inline void add_identity_backward(float* __restrict to, const float* __restrict dh, const float* __restrict,
                                  int64_t count) {
  for (int64_t k = 0; k < count; ++k) to[k] += dh[k];
}
// quad: dL/dz = dL/dh * (2 z)
inline void add_quad_backward(float* __restrict to, const float* __restrict dh, const float* __restrict z,
                              int64_t count) {
  for (int64_t k = 0; k < count; ++k) to[k] += dh[k] * (2.0f * z[k]);
}
// factored, h = l * r: dL/dl = dL/dh * r, dL/dr = dL/dh * l
inline void add_product(float* __restrict to, const float* __restrict dh, const float* __restrict other,
                        int64_t count) {
  for (int64_t k = 0; k < count; ++k) to[k] += dh[k] * other[k];
}

// What one thread may write while the input weights' gradient is formed.
//
// Every destination element has one owning thread, which adds its examples' contributions in order: the same bits
// for any thread count (docs/NUMERICS.md "Any thread count, the same bits"). Weight rows are owned whole, by
// contiguous ranges of row slots (bilinear: the P^2 pair rows; factored: left's 2P rows then right's; mlp: hidden's
// 2P rows), so no cache line is written by two cores. The bias, which every example hits, is split by columns, each
// thread summing its columns in a private copy loaded before the examples and stored after them.
class RowOwner {
 public:
  RowOwner(int64_t slots, float* bias, int64_t H);
  ~RowOwner();  // stores this thread's bias columns
  // add(to, dh, x, H) on the whole of weight row `slot`, if this thread owns it.
  template <class Add>
  void row(Add add, int64_t slot, float* to, const float* dh, const float* x) const {
    if (slot >= slots_.first && slot < slots_.last) add(to, dh, x, H_);
  }
  // add on this thread's columns of the bias gradient.
  template <class Add>
  void bias(Add add, const float* dh, const float* x) {
    add(copy_->data() + k0_, dh + k0_, x + k0_, k1_ - k0_);
  }
  bool has_bias() const { return bias_ != nullptr; }

 private:
  Share slots_;
  float* bias_;
  int64_t H_, k0_, k1_;
  std::vector<float>* copy_;
};

// dL/dh from dL/dlogits through the output layer into act->dhidden (and output.weight's and output.bias's gradients),
// or, without an output layer, dL/dh = dL/dlogits. relu: units that fired for no example are skipped (their dL/dh is
// never read: ReLU's derivative is a select, as PyTorch's threshold_backward); the gradients are the same bits.
void output_backward_into_hidden(const ModelSpec& spec, const ParameterViews& w, const ParameterViews& g, int64_t n,
                                 bool relu, BatchActivations* act);

// The input weights' gradient: per_example(e, owner) adds example e's contributions through `owner`, in parallel
// over the threads, each adding its own rows and bias columns (RowOwner).
template <class PerExample>
void input_backward(const ModelSpec& spec, int64_t n, int64_t slots, float* bias_grad, PerExample per_example) {
  const bool parallel = n * spec.hidden_dim * 4 > kParallelWorkThreshold;
#pragma omp parallel if (parallel)
  {
    RowOwner owner(slots, bias_grad, spec.hidden_dim);
    for (int64_t e = 0; e < n; ++e) per_example(e, owner);
  }
}

}  // namespace bilmod::hidden_layer
