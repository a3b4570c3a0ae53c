#include "train/evaluate.h"

#include <algorithm>
#include <cmath>

#include "model/cross_entropy.h"

namespace bilmod {

namespace {
// Pairs per forward call: activations of a chunk stay in L2.
constexpr int64_t kEvalChunk = 1024;
}  // namespace

SplitMetrics evaluate_splits(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                             const Dataset& data, EvaluationWorkspace* ws) {
  const int64_t n_train = static_cast<int64_t>(data.train_indices.size());
  const int64_t n = n_train + static_cast<int64_t>(data.val_indices.size());
  if (static_cast<int64_t>(ws->pairs.size()) != n) {
    ws->pairs.assign(data.train_indices.begin(), data.train_indices.end());
    ws->pairs.insert(ws->pairs.end(), data.val_indices.begin(), data.val_indices.end());
    ws->labels.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ws->labels[i] = data.label[ws->pairs[i]];
    ws->loss.resize(static_cast<size_t>(n));
    ws->correct.resize(static_cast<size_t>(n));
  }
  for (int64_t begin = 0; begin < n; begin += kEvalChunk) {
    const int64_t count = std::min(kEvalChunk, n - begin);
    network_forward(spec, layout, params, ws->pairs.data() + begin, count, &ws->act);
    cross_entropy(ws->act.logits.data(), ws->labels.data() + begin, count, spec.mod_basis, 0.0f, nullptr,
                  ws->loss.data() + begin, ws->correct.data() + begin);
  }
  SplitMetrics m;
  double loss = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < n_train; ++i) loss += ws->loss[i], correct += ws->correct[i];
  m.train_loss = loss / static_cast<double>(n_train);
  m.train_accuracy = static_cast<double>(correct) / static_cast<double>(n_train);
  loss = 0;
  correct = 0;
  for (int64_t i = n_train; i < n; ++i) loss += ws->loss[i], correct += ws->correct[i];
  m.val_loss = loss / static_cast<double>(n - n_train);
  m.val_accuracy = static_cast<double>(correct) / static_cast<double>(n - n_train);
  return m;
}

double l2_norm(const float* x, size_t n) {
  // One sequential sum in index order (its value is part of the run's record, so the order stays). A square is
  // +0 exactly when x is +-0, and adding +0 to a sum that is >= +0 leaves it unchanged, so runs of zeros (the
  // untouched rows of the seed model's gradient) are skipped: same result, without their latency-bound additions.
  constexpr size_t kBlock = 16;
  double sum = 0;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    bool all_zero = true;
    for (size_t j = 0; j < kBlock; ++j) all_zero &= x[i + j] == 0.0f;
    if (all_zero) continue;
    for (size_t j = 0; j < kBlock; ++j) sum += static_cast<double>(x[i + j]) * static_cast<double>(x[i + j]);
  }
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return std::sqrt(sum);
}

}  // namespace bilmod
