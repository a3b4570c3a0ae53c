// OrthoGrad (Prieto et al. 2025): before the base optimiser steps, each parameter tensor's gradient loses its
// component along the weights and is rescaled to its old norm (docs/MODELS.md "OrthoGrad").
#pragma once
#include <cstddef>

namespace bilmod {

// One tensor w, g of n elements (in place on g); the caller applies it to each parameter tensor:
//   proj = (w.g) / (w.w + 1e-30);  g_orth = g - proj * w;  g = g_orth * (||g|| / (||g_orth|| + 1e-30)).
// Dot products and norms are summed in double and rounded to float, as torch's float results; the elementwise
// operations are float32.
void orthograd_tensor(const float* w, float* g, size_t n);

}  // namespace bilmod
