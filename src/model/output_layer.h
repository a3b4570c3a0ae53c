// The output projection shared by all three models: logits = U h + c (c absent for `factored`).
#pragma once
#include <cstdint>
#include <memory>

namespace bilmod {

class SubnormalWatch;  // util/subnormal_watch.h

// logits (n, P) = hidden (n, H) @ weight_t (H, P) [+ bias (P)]; weight_t is output.weight stored (H, P).
void output_forward(float* logits, const float* hidden, const float* weight_t, const float* bias, int64_t n,
                    int64_t hidden_dim, int64_t mod_basis);

// Adds dweight_t (H, P) += hidden^T dlogits and dbias (P) += column sums of dlogits (when bias is used);
// writes dhidden (n, H) = dlogits @ weight_t^T, each element summed over the classes in order (c = 0..P-1), by the
// forward kernel on weight_t transposed (each thread transposes it into scratch of its own).
// unread (H,) or null: columns of dhidden the caller will not read (ReLU units that fired for no example of the
// batch); they are formed from zero weights instead, so their values there are unspecified (see hidden_layer.h).
// grid_watch (make_faded_units_watch, held by the caller's activations): where it pays on this processor, the dL/dh of
// faded units is formed apart on the integer grid (the same bits); null: the plain path.
void output_backward(float* dhidden, float* dweight_t, float* dbias, const float* dlogits, const float* hidden,
                     const float* weight_t, int64_t n, int64_t hidden_dim, int64_t mod_basis,
                     const uint8_t* unread = nullptr, SubnormalWatch* grid_watch = nullptr);

// The switch of output_backward's subnormal detour (util/subnormal_watch.h), for a workspace to hold and pass down;
// measured at its first use. Null where the build has no detour.
std::shared_ptr<SubnormalWatch> make_faded_units_watch();

}  // namespace bilmod
