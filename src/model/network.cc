#include "model/network.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "model/kernels.h"
#include "model/output_layer.h"
#include "model/transformer.h"

namespace bilmod {

void BatchActivations::reserve(const ModelSpec& spec, int64_t n) {
  if (n <= capacity) return;
  capacity = n;
  if (spec.kind == ModelKind::kTransformer) {  // its own activations live in act->transformer
    logits.resize(static_cast<size_t>(n * spec.num_logits()));
    return;
  }
  const auto hn = static_cast<size_t>(n * spec.hidden_dim), pn = static_cast<size_t>(n * spec.mod_basis);
  pre_a.resize(hn);
  pre_b.resize(spec.kind == ModelKind::kFactored ? hn : 0);
  hidden.resize(hn);
  dhidden.resize(hn);
  idle.resize(static_cast<size_t>(spec.hidden_dim));
  logits.resize(pn);
}

ParameterViews parameter_views(const ModelSpec& spec, const ParameterLayout& layout, float* buffer) {
  ParameterViews v;
  auto at = [&](const char* name) -> float* {
    const ParameterInfo* info = layout.find(name);
    return info ? buffer + info->offset : nullptr;
  };
  switch (spec.kind) {
    case ModelKind::kBilinear:
      v.input_a = at("bilinear.weight");
      v.input_bias = at("bilinear.bias");
      break;
    case ModelKind::kFactored:
      v.input_a = at("left.weight");
      v.input_b = at("right.weight");
      break;
    case ModelKind::kMlp:
      v.input_a = at("hidden.weight");
      v.input_bias = at("hidden.bias");
      break;
    case ModelKind::kTransformer:  // named views of its own: model/transformer.cc
      break;
  }
  v.output_weight = at("output.weight");
  v.output_bias = at("output.bias");
  return v;
}

namespace {

// The rows of the input weights that pair (a, b) selects: the one-hot product as a gather.
struct InputRows {
  int64_t first;   // bilinear: a*P + b; concatenated-input models: a
  int64_t second;  // concatenated-input models: P + b; unused for bilinear
};
inline InputRows input_rows(const ModelSpec& spec, int64_t pair) {
  const int64_t p = spec.mod_basis;
  if (spec.kind == ModelKind::kBilinear) return {pair, -1};
  return {pair / p, p + pair % p};
}

// Hidden layer of one example: pre_a/pre_b/hidden rows of length H.
inline void hidden_forward(const ModelSpec& spec, const ParameterViews& w, int64_t pair, float* __restrict pre_a,
                           float* __restrict pre_b, float* __restrict hidden) {
  const int64_t H = spec.hidden_dim;
  const InputRows rows = input_rows(spec, pair);
  switch (spec.kind) {
    case ModelKind::kBilinear: {  // z = W[:, a, b] (+ bias) ; h = relu(z) or z
      const float* wz = w.input_a + rows.first * H;
      if (w.input_bias)
        for (int64_t k = 0; k < H; ++k) pre_a[k] = wz[k] + w.input_bias[k];
      else
        for (int64_t k = 0; k < H; ++k) pre_a[k] = wz[k];
      if (spec.activation == Activation::kRelu)
        for (int64_t k = 0; k < H; ++k) hidden[k] = pre_a[k] > 0.0f ? pre_a[k] : 0.0f;
      else
        for (int64_t k = 0; k < H; ++k) hidden[k] = pre_a[k];
      break;
    }
    case ModelKind::kFactored: {  // l = L[:, a] + L[:, P+b] ; r likewise ; h = l * r
      const float *la = w.input_a + rows.first * H, *lb = w.input_a + rows.second * H;
      const float *ra = w.input_b + rows.first * H, *rb = w.input_b + rows.second * H;
      for (int64_t k = 0; k < H; ++k) {
        pre_a[k] = la[k] + lb[k];
        pre_b[k] = ra[k] + rb[k];
        hidden[k] = pre_a[k] * pre_b[k];
      }
      break;
    }
    case ModelKind::kTransformer:  // model/transformer.cc
      break;
    case ModelKind::kMlp: {  // z = W[:, a] + W[:, P+b] + bias ; h = act(z)
      const float *wa = w.input_a + rows.first * H, *wb = w.input_a + rows.second * H;
      const bool relu = spec.activation == Activation::kRelu;
      for (int64_t k = 0; k < H; ++k) {
        pre_a[k] = (wa[k] + wb[k]) + w.input_bias[k];
        hidden[k] = relu ? (pre_a[k] > 0.0f ? pre_a[k] : 0.0f) : pre_a[k] * pre_a[k];
      }
      break;
    }
  }
}

// idle[k] = 1 where z[e, k] > 0 for no e < n (NaN counts as not firing, as in the select below).
inline void find_idle_units(const float* z, int64_t n, int64_t H, uint8_t* idle) {
  thread_local std::vector<float> fired;  // (H,) 1 once the unit has fired: a compare and a blend per 16, vectorised
  fired.assign(static_cast<size_t>(H), 0.0f);
  float* __restrict f = fired.data();
  for (int64_t e = 0; e < n; ++e)
    for (int64_t k = 0; k < H; ++k) f[k] = z[e * H + k] > 0.0f ? 1.0f : f[k];
  for (int64_t k = 0; k < H; ++k) idle[k] = f[k] == 0.0f;
}

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

}  // namespace

void network_forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                     int64_t n, BatchActivations* act) {
  act->reserve(spec, n);
  if (spec.kind == ModelKind::kTransformer) {
    transformer_forward(spec, layout, params, pairs, n, &act->transformer, act->logits.data());
    return;
  }
  const ParameterViews w = parameter_views(spec, layout, const_cast<float*>(params));
  const int64_t H = spec.hidden_dim;
  float* pre_b = act->pre_b.empty() ? nullptr : act->pre_b.data();
#pragma omp parallel for schedule(static) if (n * H * 8 > kParallelWorkThreshold)
  for (int64_t e = 0; e < n; ++e)
    hidden_forward(spec, w, pairs[e], act->pre_a.data() + e * H, pre_b ? pre_b + e * H : nullptr,
                   act->hidden.data() + e * H);
  if (w.output_weight)
    output_forward(act->logits.data(), act->hidden.data(), w.output_weight, w.output_bias, n, H, spec.mod_basis);
  else  // the upstream's direct model: the bilinear layer's P outputs are the logits
    std::copy(act->hidden.begin(), act->hidden.begin() + n * H, act->logits.begin());
}

void network_backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                      int64_t n, BatchActivations* act, float* grads) {
  if (spec.kind == ModelKind::kTransformer) {
    transformer_backward(spec, layout, params, pairs, n, &act->transformer, act->logits.data(), grads);
    return;
  }
  const ParameterViews w = parameter_views(spec, layout, const_cast<float*>(params));
  const ParameterViews g = parameter_views(spec, layout, grads);
  const int64_t H = spec.hidden_dim;
  // ReLU's derivative is [z > 0] (a select, as PyTorch's threshold_backward), so dL/dh of a unit that fired for no
  // example of the batch is never read: output_backward may skip it (and the subnormal products of a dead unit's
  // decayed output weights). The gradients are the same bits either way.
  const bool relu = spec.kind != ModelKind::kFactored && spec.activation == Activation::kRelu;
  if (w.output_weight) {
    if (relu) find_idle_units(act->pre_a.data(), n, H, act->idle.data());
    output_backward(act->dhidden.data(), g.output_weight, g.output_bias, act->logits.data(), act->hidden.data(),
                    w.output_weight, n, H, spec.mod_basis, relu ? act->idle.data() : nullptr);
  } else {  // no output layer: dL/dh is dL/dlogits
    std::copy(act->logits.begin(), act->logits.begin() + n * H, act->dhidden.begin());
  }

  // dL/d(pre-activation) times the one-hot input, added into the rows the pairs selected. relu' = [z > 0]
  // (PyTorch's threshold_backward), quad' = 2z, factored: dl = dh * r into left's rows, dr = dh * l into right's.
  // The derivative is formed where it is added, from dhidden and the forward's activations.
  //
  // Every destination element has one owning thread, which adds its examples' contributions in order: the same bits
  // for any thread count (docs/NUMERICS.md "Any thread count, the same bits"). Weight rows are owned whole, by
  // contiguous ranges of row slots (bilinear: the P^2 pair rows; factored: left's 2P rows then right's; mlp: hidden's
  // 2P rows), so no cache line is written by two cores; at two threads factored and mlp split evenly by construction
  // (rows a < P and P + b >= P; left and right). The bias, which every example hits, is split by columns, each thread
  // summing its columns in a private copy loaded before the examples and stored after them.
  const float* dhidden = act->dhidden.data();
  const float* pre_a = act->pre_a.data();
  const float* pre_b = act->pre_b.empty() ? nullptr : act->pre_b.data();
  const int64_t P = spec.mod_basis;
  const int64_t slots = spec.kind == ModelKind::kBilinear ? P * P : (spec.kind == ModelKind::kFactored ? 4 * P : 2 * P);
  const bool parallel = n * H * 4 > kParallelWorkThreshold;
#pragma omp parallel if (parallel)
  {
    const Share my_slots = my_share(slots);
    // Runs add on the whole of weight row `slot` if this thread owns it.
    auto if_my_row = [&](auto add, int64_t slot, float* to, const float* dh, const float* x) {
      if (slot >= my_slots.first && slot < my_slots.last) add(to, dh, x, H);
    };
    // This thread's columns [k0, k1) of the bias gradient, summed in bias_copy (index k holds column k).
    thread_local std::vector<float> bias_copy;
    float* const bias = g.input_bias;
    const Share my_columns = my_share(bias ? H : 0);
    const int64_t k0 = my_columns.first, k1 = my_columns.last;
    bias_copy.resize(static_cast<size_t>(H));
    if (bias) std::copy(bias + k0, bias + k1, bias_copy.data() + k0);
    auto on_my_bias_columns = [&](auto add, const float* dh, const float* x) {
      add(bias_copy.data() + k0, dh + k0, x + k0, k1 - k0);
    };
    for (int64_t e = 0; e < n; ++e) {
      const InputRows rows = input_rows(spec, pairs[e]);
      const float *dh = dhidden + e * H, *z = pre_a + e * H;
      switch (spec.kind) {
        case ModelKind::kBilinear: {  // bilinear.weight[:, a, b] and bilinear.bias
          const auto add = spec.activation == Activation::kRelu ? add_relu_backward : add_identity_backward;
          if_my_row(add, rows.first, g.input_a + rows.first * H, dh, z);
          if (bias) on_my_bias_columns(add, dh, z);
          break;
        }
        case ModelKind::kFactored: {  // left.weight and right.weight, columns a and P + b of each
          const float* r = pre_b + e * H;
          if_my_row(add_product, rows.first, g.input_a + rows.first * H, dh, r);
          if_my_row(add_product, rows.second, g.input_a + rows.second * H, dh, r);
          if_my_row(add_product, 2 * P + rows.first, g.input_b + rows.first * H, dh, z);
          if_my_row(add_product, 2 * P + rows.second, g.input_b + rows.second * H, dh, z);
          break;
        }
        case ModelKind::kTransformer:  // model/transformer.cc
          break;
        case ModelKind::kMlp: {  // hidden.weight columns a and P + b, and hidden.bias
          const auto add = spec.activation == Activation::kRelu ? add_relu_backward : add_quad_backward;
          if_my_row(add, rows.first, g.input_a + rows.first * H, dh, z);
          if_my_row(add, rows.second, g.input_a + rows.second * H, dh, z);
          if (bias) on_my_bias_columns(add, dh, z);
          break;
        }
      }
    }
    if (bias) std::copy(bias_copy.data() + k0, bias_copy.data() + k1, bias + k0);
  }
}

}  // namespace bilmod
