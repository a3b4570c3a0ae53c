#include "model/network.h"

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/kernels.h"
#include "model/output_layer.h"

namespace bilmod {

void BatchActivations::reserve(const ModelSpec& spec, int64_t n) {
  if (n <= capacity) return;
  capacity = n;
  const auto hn = static_cast<size_t>(n * spec.hidden_dim), pn = static_cast<size_t>(n * spec.mod_basis);
  pre_a.resize(hn);
  pre_b.resize(spec.kind == ModelKind::kFactored ? hn : 0);
  hidden.resize(hn);
  dhidden.resize(hn);
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
    case ModelKind::kBilinear: {  // z = W[:, a, b] + bias ; h = relu(z)
      const float* wz = w.input_a + rows.first * H;
      for (int64_t k = 0; k < H; ++k) {
        pre_a[k] = wz[k] + w.input_bias[k];
        hidden[k] = pre_a[k] > 0.0f ? pre_a[k] : 0.0f;
      }
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

// Where thread j of T starts in a destination row of H floats at `row`: H*j/T moved up to the next 64-byte cache
// line of that row. Two threads then never write one cache line (with the split at H/2 they did, once per example,
// and the line's trips between the cores made two threads slower than one on the scatter). The split depends only
// on the row's address, so every element of a row has one owner for the whole pass.
inline int64_t column_split(const float* row, int64_t H, int64_t j, int64_t T) {
  if (j <= 0) return 0;
  if (j >= T) return H;
  const int64_t k = H * j / T;
  const auto misalignment = static_cast<int64_t>(reinterpret_cast<uintptr_t>(row + k) % 128);
  return std::min(H, k + (misalignment == 0 ? 0 : (128 - misalignment) / static_cast<int64_t>(sizeof(float))));
}

}  // namespace

void network_forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                     int64_t n, BatchActivations* act) {
  act->reserve(spec, n);
  const ParameterViews w = parameter_views(spec, layout, const_cast<float*>(params));
  const int64_t H = spec.hidden_dim;
  float* pre_b = act->pre_b.empty() ? nullptr : act->pre_b.data();
#pragma omp parallel for schedule(static) if (n * H * 8 > kParallelWorkThreshold)
  for (int64_t e = 0; e < n; ++e)
    hidden_forward(spec, w, pairs[e], act->pre_a.data() + e * H, pre_b ? pre_b + e * H : nullptr,
                   act->hidden.data() + e * H);
  output_forward(act->logits.data(), act->hidden.data(), w.output_weight, w.output_bias, n, H, spec.mod_basis);
}

void network_backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                      int64_t n, BatchActivations* act, float* grads) {
  const ParameterViews w = parameter_views(spec, layout, const_cast<float*>(params));
  const ParameterViews g = parameter_views(spec, layout, grads);
  const int64_t H = spec.hidden_dim;
  output_backward(act->dhidden.data(), g.output_weight, g.output_bias, act->logits.data(), act->hidden.data(),
                  w.output_weight, n, H, spec.mod_basis);

  // dL/d(pre-activation), written over dhidden: relu' = [z > 0] (PyTorch's threshold_backward), quad' = 2z,
  // factored: dl = dh * r and dr = dh * l (dr kept in pre_b, whose forward value is no longer needed).
  // Then the scatter into the rows the pairs selected. Both in one parallel region: the elementwise pass split by
  // elements, a barrier, then the scatter, in which every destination element is owned by one thread
  // (column_split) and sums its contributions over the examples in order, for any thread count.
  float* dpre_a = act->dhidden.data();
  float* pre_a = act->pre_a.data();
  float* pre_b = act->pre_b.empty() ? nullptr : act->pre_b.data();
  const int64_t count = n * H;
  const bool parallel = n * H * 4 > kParallelWorkThreshold;
#pragma omp parallel if (parallel)
  {
#ifdef _OPENMP
    const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
#else
    const int64_t threads = 1, thread = 0;
#endif
    // One loop per kind, so that each is a plain vector loop (a switch inside would keep it scalar).
    const int64_t i0 = count * thread / threads, i1 = count * (thread + 1) / threads;
    if (spec.kind == ModelKind::kFactored) {
      for (int64_t i = i0; i < i1; ++i) {
        const float dh = dpre_a[i];
        dpre_a[i] = dh * pre_b[i];
        pre_b[i] = dh * pre_a[i];
      }
    } else if (spec.kind == ModelKind::kMlp && spec.activation != Activation::kRelu) {
      for (int64_t i = i0; i < i1; ++i) dpre_a[i] = dpre_a[i] * (2.0f * pre_a[i]);
    } else {  // relu: the seed model and mlp's default
      for (int64_t i = i0; i < i1; ++i) dpre_a[i] = pre_a[i] > 0.0f ? dpre_a[i] : 0.0f;
    }
#pragma omp barrier
    // Adds this thread's columns of source row `from` (H) into destination row `to` (H).
    auto add_my_columns = [&](float* to, const float* from) {
      const int64_t k0 = column_split(to, H, thread, threads), k1 = column_split(to, H, thread + 1, threads);
      add_into(to + k0, from + k0, k1 - k0);
    };
    for (int64_t e = 0; e < n; ++e) {
      const InputRows rows = input_rows(spec, pairs[e]);
      const float* da = dpre_a + e * H;
      add_my_columns(g.input_a + rows.first * H, da);
      if (spec.kind != ModelKind::kBilinear) add_my_columns(g.input_a + rows.second * H, da);
      if (g.input_bias) add_my_columns(g.input_bias, da);
      if (spec.kind == ModelKind::kFactored) {
        const float* db = pre_b + e * H;
        add_my_columns(g.input_b + rows.first * H, db);
        add_my_columns(g.input_b + rows.second * H, db);
      }
    }
  }
}

}  // namespace bilmod
