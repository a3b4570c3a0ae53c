// Loss and accuracy of a model on every pair of its train and validation splits.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "data/dataset.h"
#include "model/loss.h"
#include "model/model_spec.h"
#include "model/network.h"

namespace bilmod {

struct SplitMetrics {
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double softmax_collapse = 0;  // fraction of train pairs whose softmax collapsed (model/loss.h); with the option only
};

struct EvaluationOptions {
  LossSettings loss;              // the loss reported (the run's training loss)
  bool softmax_collapse = false;  // also measure SplitMetrics::softmax_collapse
  bool label_logits = false;      // also keep each pair's correct and highest incorrect logit (the workspace's)
};

// Reusable buffers for evaluation, so an evaluation allocates nothing after the first.
struct EvaluationWorkspace {
  std::vector<BatchActivations> act;   // one per thread
  std::vector<int64_t> pairs;          // train pairs then validation pairs
  std::vector<int32_t> labels;         // their labels
  std::vector<double> loss;            // (n,) per-pair loss
  std::vector<uint8_t> correct;        // (n,)
  std::vector<uint8_t> collapsed;      // (n,) softmax collapse, when measured
  std::vector<float> correct_logit;    // (n,) the label's logit, when asked (EvaluationOptions::label_logits)
  std::vector<float> incorrect_logit;  // (n,) the highest logit of any other output, when asked
  // The model's prepare() of the parameters about to be evaluated, set by a caller that holds it (the trainer, which
  // reuses it for the next step's forward); null: the evaluation prepares its own.
  std::shared_ptr<const PreparedParameters> prepared;
};

// Each pair is evaluated once; sums run in split order, so the result is independent of the thread count.
SplitMetrics evaluate_splits(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                             const Dataset& data, EvaluationWorkspace* ws);
SplitMetrics evaluate_splits(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                             const Dataset& data, EvaluationWorkspace* ws, const EvaluationOptions& options);

// sqrt(sum x^2) in double, in fixed blocks (the same value for any thread count).
double l2_norm(const float* x, size_t n);

}  // namespace bilmod
