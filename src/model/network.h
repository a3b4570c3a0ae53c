// Forward and backward passes of a model over a batch of pair indices, through its Model (model/model.h); docs/MODELS.md
// "Models".
// Backward adds into the gradient buffer (llm.c's habit): the trainer zeroes it once per optimiser step,
// and gradient accumulation is then just several backward calls.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/model_spec.h"

namespace bilmod {

struct PreparedParameters;  // model/model.h
class SubnormalWatch;       // util/subnormal_watch.h

// Activations of one batch, allocated once for the largest batch and reused every step.
struct BatchActivations {
  int64_t capacity = 0;
  std::vector<float> pre_a;    // (n, H) bilinear/mlp: pre-activation z; factored: l = L x
  std::vector<float> pre_b;    // (n, H) factored: r = R x; unused otherwise
  std::vector<float> hidden;   // (n, H) h
  std::vector<float> logits;   // (n, num_logits) logits, overwritten by dlogits in the backward pass
  std::vector<float> dhidden;  // (n, H) dL/dh
  std::vector<uint8_t> idle;   // (H,) ReLU models: 1 where the unit fired for no example of the batch (z <= 0)
  std::shared_ptr<struct TransformerActivations> transformer;  // --model transformer's own (model/transformer.h)
  std::shared_ptr<struct ModelActivations> own;                // any other model's own (model/model.h)
  std::shared_ptr<const PreparedParameters> prepared;          // the forward's parameter state (model/model.h prepare)
  std::shared_ptr<SubnormalWatch> faded_units;                 // the backward's subnormal switch, this workspace's own
                                                               // (model/output_layer.h make_faded_units_watch)
  void reserve(const ModelSpec& spec, int64_t n);
};

// Named views of a flat parameter (or gradient, or optimiser-state) buffer; null where a model lacks one.
struct ParameterViews {
  float* input_a = nullptr;        // bilinear.weight (P*P, H) | left.weight (2P, H) | hidden.weight (2P, H)
  float* input_b = nullptr;        // right.weight (2P, H) for factored
  float* input_bias = nullptr;     // bilinear.bias | hidden.bias (H)
  float* output_weight = nullptr;  // output.weight stored (H, P)
  float* output_bias = nullptr;    // output.bias (P)
};
ParameterViews parameter_views(const ModelSpec& spec, const ParameterLayout& layout, float* buffer);

// Fills act->pre_a, pre_b, hidden and logits for pairs[0..n). `prepared`: the model's prepare() of these very parameters,
// held by a caller that runs many forward passes on one parameter state (the trainer between two steps, an evaluation's
// threads) and drops it when they change; null: prepared for this call alone.
void network_forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                     int64_t n, BatchActivations* act,
                     const std::shared_ptr<const PreparedParameters>& prepared = nullptr);
// model_of(spec).prepare(spec, layout, params).
std::shared_ptr<const PreparedParameters> network_prepare(const ModelSpec& spec, const ParameterLayout& layout,
                                                          const float* params);

// Given act->logits holding dL/dlogits (and the forward's activations), adds dL/dparams into grads.
void network_backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                      int64_t n, BatchActivations* act, float* grads);

}  // namespace bilmod
