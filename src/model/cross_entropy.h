// Mean cross-entropy with a stable log-softmax, and its gradient (docs/MODELS.md "Loss and metrics").
#pragma once
#include <cstdint>

namespace bilmod {

// Per example e: loss[e] = logsumexp(logits[e]) - logits[e, label[e]], correct[e] = argmax == label (ties to
// the lowest index). When dlogits is not null it receives (softmax - onehot) * grad_scale; it may alias logits.
void cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t mod_basis, float grad_scale,
                   float* dlogits, double* loss, uint8_t* correct);

}  // namespace bilmod
