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

// Runs the forward pass over `pairs` in blocks of kLogitBlock and calls consume(first, count, logits) for every
// block in order, logits (count, P) float row-major. Blocks are computed on every thread at once but consumed on
// the calling thread in order, so whatever consume sums does not depend on the thread count.
void for_each_logit_block(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params,
                          const std::vector<int64_t>& pairs,
                          const std::function<void(int64_t first, int64_t count, const float* logits)>& consume);

}  // namespace bilmod
