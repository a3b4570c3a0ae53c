// The logits of many pairs without holding them all: the forward pass in blocks, each handed to a consumer in
// order. What analysis and `evaluate --output` need at large P, where the (P*P, P) table alone would be 4 P^3 bytes.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/model_spec.h"

namespace bilmod {

// Pairs per forward call: (threads x this) rows of logits are held at once.
constexpr int64_t kLogitBlock = 1024;

// Which logit columns a consumer gets: the P classes (analysis: the transformer's '=' logit is left out, as the
// paper does), or all spec.num_logits() the model outputs (evaluate --output: the transformer's P + 1).
enum class LogitColumns { kClasses, kAll };

inline int64_t logit_columns(const ModelSpec& spec, LogitColumns columns) {
  return columns == LogitColumns::kAll ? spec.num_logits() : spec.mod_basis;
}

// Runs the forward pass over `pairs` in blocks of kLogitBlock and calls consume(first, count, logits) for every
// block in order, logits (count, logit_columns(spec, columns)) float row-major. Blocks are computed on every thread
// at once but consumed on the calling thread in order, so whatever consume sums does not depend on the thread count.
void for_each_logit_block(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                          const std::vector<int64_t>& pairs,
                          const std::function<void(int64_t first, int64_t count, const float* logits)>& consume,
                          LogitColumns columns = LogitColumns::kClasses);

}  // namespace bilmod
