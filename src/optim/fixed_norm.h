// Omnigrok's two training controls (Liu, Michaud, Tegmark 2022, "Omnigrok: Grokking Beyond Algorithmic Data";
// KindXiaoming/Omnigrok, mod-addition/grokking/modular-addition-grokking.ipynb; docs/MODELS.md "Interventions and
// measures"). Generic: they see the parameters as one vector, whatever the model.
//
// --init-scale alpha, right after initialisation (the notebook: with torch.no_grad(): for param in
// model.parameters(): param.data *= alpha), before the first step and checkpoint_epoch_0.
//
// --fixed-norm, after every optimiser step (the notebook, after optimizer.step(), before zero_grad: with
// torch.no_grad(): new_norm = sqrt(sum(param.pow(2).sum().item() for param in model.parameters())); for param in
// model.parameters(): param.data *= norm / new_norm), where norm is the total L2 norm of all parameters right after
// the init scale: one factor for the whole vector; the optimiser's moments are left as they are.
#pragma once
#include <cstddef>

namespace bilmod {

// params[0..n) *= alpha, in float32 (torch multiplies a float tensor by a Python float as float(alpha)).
void scale_parameters(float* params, size_t n, double alpha);

// params[0..n) *= float(target / norm), norm the current L2 norm of params[0..n) (the caller computes it with the
// training loop's fixed-order l2_norm, so the factor is the same for any thread count): the notebook's
// param.data *= norm / new_norm, the ratio a Python float, the product float32. A zero vector is left as it is.
void restore_norm(float* params, size_t n, double norm, double target);

}  // namespace bilmod
