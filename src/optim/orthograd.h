// OrthoGrad (Prieto et al. 2025): before the base optimiser steps, each parameter tensor's gradient loses its
// component along the weights and is rescaled to its old norm (docs/INTERVENTIONS.md "OrthoGrad").
#pragma once
#include <cstddef>

#include "model/model_spec.h"

namespace bilmod {

// Per tensor w, g of `layout` (in place on grads):
//   proj = (w.g) / (w.w + 1e-30);  g_orth = g - proj * w;  g = g_orth * (||g|| / (||g_orth|| + 1e-30)).
// Dot products and norms are summed in double and rounded to float, as torch's float results; the elementwise
// operations are float32.
void orthograd_apply(const ParameterLayout& layout, const float* params, float* grads);

// One tensor of n elements (the formula above).
void orthograd_tensor(const float* w, float* g, size_t n);

}  // namespace bilmod
