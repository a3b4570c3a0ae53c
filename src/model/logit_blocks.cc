#include "model/logit_blocks.h"

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/network.h"

namespace bilmod {

void for_each_logit_block(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                          const std::vector<int64_t>& pairs,
                          const std::function<void(int64_t first, int64_t count, const float* logits)>& consume,
                          LogitColumns columns) {
  const auto n = static_cast<int64_t>(pairs.size());
  const int64_t blocks = (n + kLogitBlock - 1) / kLogitBlock;
#ifdef _OPENMP
  const int64_t threads = std::max(1, omp_get_max_threads());
#else
  const int64_t threads = 1;
#endif
  // One activation buffer per block of a group: the group's forward passes run at once, then are consumed in order.
  std::vector<BatchActivations> act(static_cast<size_t>(std::min(threads, std::max<int64_t>(blocks, 1))));
  const int64_t stride = spec.num_logits(), width = logit_columns(spec, columns);
  std::vector<float> compact(width != stride ? static_cast<size_t>(kLogitBlock * width) : 0);
  const std::shared_ptr<const PreparedParameters> prepared = network_prepare(spec, layout, params.data());
  for (int64_t group = 0; group < blocks; group += static_cast<int64_t>(act.size())) {
    const int64_t in_group = std::min(static_cast<int64_t>(act.size()), blocks - group);
#pragma omp parallel for schedule(static, 1) if (in_group > 1)
    for (int64_t j = 0; j < in_group; ++j) {
      const int64_t first = (group + j) * kLogitBlock;
      network_forward(spec, layout, params.data(), pairs.data() + first, std::min(kLogitBlock, n - first),
                      &act[static_cast<size_t>(j)], prepared);
    }
    for (int64_t j = 0; j < in_group; ++j) {
      const int64_t first = (group + j) * kLogitBlock, count = std::min(kLogitBlock, n - first);
      const float* logits = act[static_cast<size_t>(j)].logits.data();
      if (width != stride) {  // rows of `stride` outputs, of which the consumer wants the first `width`
        for (int64_t e = 0; e < count; ++e) std::copy_n(logits + e * stride, width, compact.data() + e * width);
        logits = compact.data();
      }
      consume(first, count, logits);
    }
  }
}

}  // namespace bilmod
