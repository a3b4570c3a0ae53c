// Loss and accuracy of a model on every pair of its train and validation splits.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "model/model_spec.h"
#include "model/network.h"

namespace bilmod {

struct SplitMetrics {
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
};

// Reusable buffers for evaluation, so an evaluation allocates nothing after the first.
struct EvaluationWorkspace {
  std::vector<BatchActivations> act;  // one per thread
  std::vector<int64_t> pairs;   // train pairs then validation pairs
  std::vector<int32_t> labels;  // their labels
  std::vector<double> loss;     // (n,) per-pair loss
  std::vector<uint8_t> correct; // (n,)
};

// Each pair is evaluated once; sums run in split order, so the result is independent of the thread count.
SplitMetrics evaluate_splits(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                             const Dataset& data, EvaluationWorkspace* ws);

// sqrt(sum x^2) in double, in fixed blocks (the same value for any thread count).
double l2_norm(const float* x, size_t n);

}  // namespace bilmod
