// torch.optim's steps (1.13, foreach off) written as its Python writes them, one element at a time: the reference
// that the fast paths must equal bit for bit, and the path BILMOD_OPTIMIZER=reference trains with.
#pragma once
#include <cstddef>
#include <cstdint>

#include "optim/optimizer.h"

namespace bilmod {

// One AdamW step t (1-based) over [0, n): both divisions in float, as torch's tensor ops round them.
void adamw_torch_step(const OptimizerSettings& settings, double lr, int64_t t, float* p, const float* g, float* m,
                      float* v, size_t n);

// One SGD step t (1-based): weight decay added to the gradient, momentum without dampening. buf: null when
// momentum is 0. SGD has no other path.
void sgd_torch_step(const OptimizerSettings& settings, double lr, int64_t t, float* p, const float* g, float* buf,
                    size_t n);

}  // namespace bilmod
