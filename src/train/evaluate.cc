#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/loss.h"
#include "model/kernels.h"
#include "model/model.h"

namespace bilmod {

namespace {
// Pairs per forward call: a chunk's activations (about 420 KB at H = 100, P = 113) stay in L2, and the 12 769 pairs of
// P = 113 make 50 chunks, which two or three threads share evenly.
constexpr int64_t kEvalChunk = 256;
}  // namespace

SplitMetrics evaluate_splits(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                             const Dataset& data, EvaluationWorkspace* ws) {
  return evaluate_splits(spec, layout, params, data, ws, EvaluationOptions{});
}

SplitMetrics evaluate_splits(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                             const Dataset& data, EvaluationWorkspace* ws, const EvaluationOptions& options) {
  const int64_t n_train = static_cast<int64_t>(data.train_indices.size());
  const int64_t n = n_train + static_cast<int64_t>(data.val_indices.size());
  if (static_cast<int64_t>(ws->pairs.size()) != n) {
    ws->pairs.assign(data.train_indices.begin(), data.train_indices.end());
    ws->pairs.insert(ws->pairs.end(), data.val_indices.begin(), data.val_indices.end());
    ws->labels.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ws->labels[i] = data.label[ws->pairs[i]];
    ws->loss.resize(static_cast<size_t>(n));
    ws->correct.resize(static_cast<size_t>(n));
    ws->collapsed.resize(static_cast<size_t>(n));
  }
  if (options.label_logits) {
    ws->correct_logit.resize(static_cast<size_t>(n));
    ws->incorrect_logit.resize(static_cast<size_t>(n));
  }
  // Threads take whole chunks, each with its own activations, in one parallel region (the kernels inside run on
  // their thread alone: OpenMP does not nest); every pair's numbers are the same whichever thread computes them.
  // e.g. the transformer's tables, once, for every thread
  const std::shared_ptr<const PreparedParameters> prepared =
      ws->prepared ? ws->prepared : network_prepare(spec, layout, params);
  const int64_t chunks = (n + kEvalChunk - 1) / kEvalChunk;
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  if (static_cast<int>(ws->act.size()) < threads) ws->act.resize(static_cast<size_t>(threads));
  const int64_t V = spec.num_logits();
#pragma omp parallel for schedule(static) if (chunks > 1 && \
                                              n * spec.hidden_dim * spec.mod_basis > kParallelWorkThreshold)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
#ifdef _OPENMP
    BatchActivations& act = ws->act[static_cast<size_t>(omp_get_thread_num())];
#else
    BatchActivations& act = ws->act[0];
#endif
    const int64_t begin = chunk * kEvalChunk, count = std::min(kEvalChunk, n - begin);
    network_forward(spec, layout, params, ws->pairs.data() + begin, count, &act, prepared);
    compute_loss(options.loss, act.logits.data(), ws->labels.data() + begin, count, V, 0.0f, nullptr,
                 ws->loss.data() + begin, ws->correct.data() + begin);
    if (options.softmax_collapse)
      for (int64_t i = 0; i < count && begin + i < n_train; ++i)
        ws->collapsed[begin + i] = softmax_collapsed(act.logits.data() + i * V, V);
    if (options.label_logits)
      for (int64_t i = 0; i < count; ++i) {
        const float* row = act.logits.data() + i * V;
        const int32_t label = ws->labels[begin + i];
        // Two branch-free max reductions around the label (the compiler's vector max).
        float other = -INFINITY;
        for (int64_t c = 0; c < label; ++c) other = row[c] > other ? row[c] : other;
        for (int64_t c = label + 1; c < V; ++c) other = row[c] > other ? row[c] : other;
        ws->correct_logit[begin + i] = row[label];
        ws->incorrect_logit[begin + i] = other;
      }
  }
  SplitMetrics m;
  double loss = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < n_train; ++i) loss += ws->loss[i], correct += ws->correct[i];
  m.train_loss = loss / static_cast<double>(n_train);
  m.train_accuracy = static_cast<double>(correct) / static_cast<double>(n_train);
  if (options.softmax_collapse) {
    int64_t collapsed = 0;
    for (int64_t i = 0; i < n_train; ++i) collapsed += ws->collapsed[i];
    m.softmax_collapse = static_cast<double>(collapsed) / static_cast<double>(n_train);
  }
  loss = 0;
  correct = 0;
  for (int64_t i = n_train; i < n; ++i) loss += ws->loss[i], correct += ws->correct[i];
  m.val_loss = loss / static_cast<double>(n - n_train);
  m.val_accuracy = static_cast<double>(correct) / static_cast<double>(n - n_train);
  return m;
}

double l2_norm(const float* x, size_t n) {
  // Fixed blocks of 4096 elements, each summed in double over 8 interleaved lanes combined in a fixed tree, then the
  // block sums added in block order: the same value for any thread count (threads take whole blocks), vectorised,
  // and split across threads (two norms of the seed model's 1.29 M parameters and gradients per evaluation).
  constexpr size_t kBlock = 4096, kLanes = 8;
  const auto blocks = static_cast<int64_t>((n + kBlock - 1) / kBlock);
  std::vector<double> block_sums(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static) if (n > 4 * kBlock)
  for (int64_t b = 0; b < blocks; ++b) {
    const float* xb = x + static_cast<size_t>(b) * kBlock;
    const size_t len = std::min(kBlock, n - static_cast<size_t>(b) * kBlock);
    double lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (size_t j = 0; j < kLanes; ++j) lane[j] += static_cast<double>(xb[i + j]) * static_cast<double>(xb[i + j]);
    double tail = 0;
    for (; i < len; ++i) tail += static_cast<double>(xb[i]) * static_cast<double>(xb[i]);
    block_sums[static_cast<size_t>(b)] =
        (((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]))) + tail;
  }
  double sum = 0;
  for (const double s : block_sums) sum += s;
  return std::sqrt(sum);
}

}  // namespace bilmod
