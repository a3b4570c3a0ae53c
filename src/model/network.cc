#include "model/network.h"

#include "model/model.h"

namespace bilmod {

void BatchActivations::reserve(const ModelSpec& spec, int64_t n) { model_of(spec).reserve(spec, n, this); }

ParameterViews parameter_views(const ModelSpec& spec, const ParameterLayout& layout, float* buffer) {
  return model_of(spec).views(layout, buffer);
}

void network_forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                     int64_t n, BatchActivations* act, const std::shared_ptr<const PreparedParameters>& prepared) {
  const Model& model = model_of(spec);
  model.reserve(spec, n, act);
  act->prepared = prepared ? prepared : model.prepare(spec, layout, params);
  model.forward(spec, layout, params, pairs, n, act);
}

std::shared_ptr<const PreparedParameters> network_prepare(const ModelSpec& spec, const ParameterLayout& layout,
                                                          const float* params) {
  return model_of(spec).prepare(spec, layout, params);
}

void network_backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                      int64_t n, BatchActivations* act, float* grads) {
  model_of(spec).backward(spec, layout, params, pairs, n, act, grads);
}

}  // namespace bilmod
