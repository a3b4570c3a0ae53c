#include "model/hidden_layer.h"

namespace bilmod::hidden_layer {

void reserve(const ModelSpec& spec, int64_t n, bool two_pre_activations, BatchActivations* act) {
  if (n <= act->capacity) return;
  act->capacity = n;
  const auto hn = static_cast<size_t>(n * spec.hidden_dim), pn = static_cast<size_t>(n * spec.mod_basis);
  act->pre_a.resize(hn);
  act->pre_b.resize(two_pre_activations ? hn : 0);
  act->hidden.resize(hn);
  act->dhidden.resize(hn);
  act->idle.resize(static_cast<size_t>(spec.hidden_dim));
  act->logits.resize(pn);
}

ParameterViews views(const ParameterLayout& layout, float* buffer, const char* input_a, const char* input_b,
                     const char* input_bias) {
  auto at = [&](const char* name) -> float* {
    const ParameterInfo* info = name ? layout.find(name) : nullptr;
    return info ? buffer + info->offset : nullptr;
  };
  ParameterViews v;
  v.input_a = at(input_a);
  v.input_b = at(input_b);
  v.input_bias = at(input_bias);
  v.output_weight = at("output.weight");
  v.output_bias = at("output.bias");
  return v;
}

void find_idle_units(const float* z, int64_t n, int64_t H, uint8_t* idle) {
  thread_local std::vector<float> fired;  // (H,) 1 once the unit has fired: a compare and a blend per 16, vectorised
  fired.assign(static_cast<size_t>(H), 0.0f);
  float* __restrict f = fired.data();
  for (int64_t e = 0; e < n; ++e)
    for (int64_t k = 0; k < H; ++k) f[k] = z[e * H + k] > 0.0f ? 1.0f : f[k];
  for (int64_t k = 0; k < H; ++k) idle[k] = f[k] == 0.0f;
}

RowOwner::RowOwner(int64_t slots, float* bias, int64_t H) : slots_(my_share(slots)), bias_(bias), H_(H) {
  thread_local std::vector<float> copy;  // index k holds column k
  const Share columns = my_share(bias ? H : 0);
  k0_ = columns.first, k1_ = columns.last;
  copy.resize(static_cast<size_t>(H));
  if (bias) std::copy(bias + k0_, bias + k1_, copy.data() + k0_);
  copy_ = &copy;
}

RowOwner::~RowOwner() {
  if (bias_) std::copy(copy_->data() + k0_, copy_->data() + k1_, bias_ + k0_);
}

void output_backward_into_hidden(const ModelSpec& spec, const ParameterViews& w, const ParameterViews& g, int64_t n,
                                 bool relu, BatchActivations* act) {
  const int64_t H = spec.hidden_dim;
  if (w.output_weight) {
    if (relu) find_idle_units(act->pre_a.data(), n, H, act->idle.data());
    if (!act->faded_units) act->faded_units = make_faded_units_watch();
    output_backward(act->dhidden.data(), g.output_weight, g.output_bias, act->logits.data(), act->hidden.data(),
                    w.output_weight, n, H, spec.mod_basis, relu ? act->idle.data() : nullptr, act->faded_units.get());
  } else {  // no output layer: dL/dh is dL/dlogits
    std::copy(act->logits.begin(), act->logits.begin() + n * H, act->dhidden.begin());
  }
}

}  // namespace bilmod::hidden_layer
