#include "model/cross_entropy.h"

#include <cmath>

#include "model/kernels.h"

namespace bilmod {

void cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t mod_basis, float grad_scale,
                   float* dlogits, double* loss, uint8_t* correct) {
  const int64_t P = mod_basis;
#pragma omp parallel for schedule(static) if (n * P * 16 > kParallelWorkThreshold)
  for (int64_t e = 0; e < n; ++e) {
    const float* row = logits + e * P;
    int64_t argmax = 0;
    for (int64_t c = 1; c < P; ++c)
      if (row[c] > row[argmax]) argmax = c;
    const float max_logit = row[argmax];
    const float label_logit = row[labels[e]];
    // Sum of exp(l - max) in double: one rounding per term, a result independent of P's size.
    double sum = 0;
    for (int64_t c = 0; c < P; ++c) sum += static_cast<double>(std::exp(row[c] - max_logit));
    if (loss) loss[e] = std::log(sum) + static_cast<double>(max_logit) - static_cast<double>(label_logit);
    if (correct) correct[e] = argmax == labels[e];
    if (dlogits) {
      float* out = dlogits + e * P;
      const float inv_sum = static_cast<float>(1.0 / sum);
      for (int64_t c = 0; c < P; ++c) out[c] = std::exp(row[c] - max_logit) * inv_sum * grad_scale;
      out[labels[e]] -= grad_scale;
    }
  }
}

}  // namespace bilmod
