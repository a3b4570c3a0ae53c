#include "model/network.h"

#include "model/model.h"

namespace bilmod {

void BatchActivations::reserve(const ModelSpec& spec, int64_t n) { model_of(spec).reserve(spec, n, this); }

ParameterViews parameter_views(const ModelSpec& spec, const ParameterLayout& layout, float* buffer) {
  return model_of(spec).views(layout, buffer);
}

void network_forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                     int64_t n, BatchActivations* act) {
  const Model& model = model_of(spec);
  model.reserve(spec, n, act);
  model.forward(spec, layout, params, pairs, n, act);
}

void network_backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                      int64_t n, BatchActivations* act, float* grads) {
  model_of(spec).backward(spec, layout, params, pairs, n, act, grads);
}

}  // namespace bilmod
