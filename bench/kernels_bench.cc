// Micro-benchmarks of the kernels that bound an epoch, with the rate each achieves (issue 5):
//   forward+backward of one training batch per model, the output matmuls, the cross-entropy, the AdamW step over the
//   seed model's 1.29 M parameters, the evaluation of every pair, and the measures logged with each evaluation.
// FLOP counts are the multiply-adds of the matmuls (2 FLOP each); bytes are the optimiser's reads and writes.
// Run: build/bench/bilmod_kernels_bench [--benchmark_filter=...]; single thread unless OMP_NUM_THREADS says more.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "model/cross_entropy.h"
#include "model/model_spec.h"
#include "model/network.h"
#include "model/output_layer.h"
#include "optim/optimizer.h"
#include "train/evaluate.h"
#include "train/fourier_ipr.h"
#include "train/measure.h"
#include "util/rng.h"

namespace bilmod {
namespace {

constexpr int64_t kP = 113, kH = 100, kBatch = 128;
constexpr int64_t kFullBatch = 3830;  // train pairs at P = 113, train fraction 0.3

ModelSpec spec_of(int kind) {
  ModelSpec spec;
  spec.kind = static_cast<ModelKind>(kind);
  spec.mod_basis = kP;
  spec.hidden_dim = kH;
  return spec;
}

std::vector<float> random_vector(size_t n, uint64_t seed, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (2.0f * random_unit_float(seed, i) - 1.0f) * scale;
  return v;
}

const char* model_name(int kind) { return kind == 0 ? "bilinear" : kind == 1 ? "factored" : "mlp"; }

// One training micro-batch of range(1) examples (128: the default batch; 3830: the full batch at train fraction 0.3):
// forward, cross-entropy with its gradient, backward into a gradient buffer.
void BM_ForwardBackward(benchmark::State& state) {
  const ModelSpec spec = spec_of(static_cast<int>(state.range(0)));
  const int64_t n = state.range(1);
  state.SetLabel(model_name(static_cast<int>(state.range(0))));
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params(layout.total), grads(layout.total, 0.0f);
  init_parameters(spec, layout, 1, params.data());
  const Dataset data = make_dataset(kP, Operation::kAdd, 0.8, 0);
  std::vector<int64_t> pairs(data.train_indices.begin(), data.train_indices.begin() + n);
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = data.label[pairs[i]];
  std::vector<double> loss(n);
  BatchActivations act;
  for (auto _ : state) {
    network_forward(spec, layout, params.data(), pairs.data(), n, &act);
    cross_entropy(act.logits.data(), labels.data(), n, kP, 1.0f / static_cast<float>(n), act.logits.data(), loss.data(),
                  nullptr);
    network_backward(spec, layout, params.data(), pairs.data(), n, &act, grads.data());
    benchmark::DoNotOptimize(grads.data());
  }
  // Output layer: forward, dweight and dhidden, each n*H*P multiply-adds.
  state.counters["GFLOP/s"] = benchmark::Counter(3.0 * 2 * static_cast<double>(n) * kH * kP * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["examples/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ForwardBackward)->ArgsProduct({{0, 1, 2}, {kBatch, kFullBatch}});

// range(1) = 1: as late in a run, half the units no longer matter: output weights decayed to ~1e-26 (1e-36 for the
// backward: ReLU units that stopped firing, h = 0, their dL/dh unread) and subnormal activations, which cost this core
// a microcode assist per instruction unless the kernels leave them out (output_layer.cc). The labels say which.
void late_run_units(std::vector<float>* hidden, std::vector<float>* weight, int64_t n, float weight_scale, float h) {
  for (int64_t k = 0; k < kH; k += 2) {
    for (int64_t c = 0; c < kP; ++c) (*weight)[k * kP + c] *= weight_scale;
    for (int64_t e = 0; e < n; ++e) (*hidden)[e * kH + k] = h * static_cast<float>(1 + e % 7);
  }
}

void BM_OutputForward(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto hidden = random_vector(n * kH, 2, 1.0f), weight = random_vector(kH * kP, 3, 0.1f);
  const auto bias = random_vector(kP, 4, 0.1f);
  if (state.range(1)) late_run_units(&hidden, &weight, n, 1e-25f, 1e-40f);
  state.SetLabel(state.range(1) ? "late run: half the units silent, subnormal h" : "");
  std::vector<float> logits(n * kP);
  for (auto _ : state) {
    output_forward(logits.data(), hidden.data(), weight.data(), bias.data(), n, kH, kP);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * kH * kP * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_OutputForward)->ArgsProduct({{kBatch, 1024, kFullBatch}, {0, 1}});

void BM_OutputBackward(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto hidden = random_vector(n * kH, 2, 1.0f), weight = random_vector(kH * kP, 3, 0.1f);
  const auto dlogits = random_vector(n * kP, 5, 0.01f);
  std::vector<uint8_t> idle(kH, 0);
  if (state.range(1)) {
    late_run_units(&hidden, &weight, n, 1e-35f, 0.0f);
    for (int64_t k = 0; k < kH; k += 2) idle[k] = 1;
  }
  state.SetLabel(state.range(1) ? "late run: half the units idle, output weights 1e-36" : "");
  std::vector<float> dhidden(n * kH), dweight(kH * kP, 0.0f), dbias(kP, 0.0f);
  for (auto _ : state) {
    output_backward(dhidden.data(), dweight.data(), dbias.data(), dlogits.data(), hidden.data(), weight.data(), n, kH,
                    kP, idle.data());
    benchmark::DoNotOptimize(dhidden.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 2 * n * kH * kP * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_OutputBackward)->ArgsProduct({{kBatch, 1024, kFullBatch}, {0, 1}});

void BM_CrossEntropy(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool with_grad = state.range(1) != 0;
  const auto logits = random_vector(n * kP, 6, 5.0f);
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<int32_t>(i % kP);
  std::vector<float> dlogits(n * kP);
  std::vector<double> loss(n);
  std::vector<uint8_t> correct(n);
  for (auto _ : state) {
    cross_entropy(logits.data(), labels.data(), n, kP, 1.0f / static_cast<float>(n),
                  with_grad ? dlogits.data() : nullptr, loss.data(), correct.data());
    benchmark::DoNotOptimize(loss.data());
  }
  state.counters["logits/s"] =
      benchmark::Counter(static_cast<double>(n * kP), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CrossEntropy)->Args({kBatch, 1})->Args({1024, 0})->Args({kFullBatch, 1});

// The dense AdamW step over the seed model's parameters: 28 bytes per parameter (read p, g, m, v; write p, m, v).
void BM_AdamWDense(benchmark::State& state) {
  const ModelSpec spec = spec_of(0);
  const ParameterLayout layout = make_parameter_layout(spec);
  const size_t n = layout.total;
  auto params = random_vector(n, 7, 0.1f);
  const auto grads = random_vector(n, 8, 0.01f);
  OptimizerSettings settings;
  OptimizerState opt;
  opt.reset(settings, n);
  Optimizer optimizer(settings, params.data(), &opt, n);
  for (auto _ : state) {
    optimizer.step(3e-3, grads.data());
    benchmark::DoNotOptimize(params.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(28.0 * static_cast<double>(n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["params/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AdamWDense)->Unit(benchmark::kMillisecond);

// AdamW over one epoch of the seed model as training runs it: 80 steps, each catching up and updating the 128 rows
// its batch reads (plus the dense parameters), then the end-of-epoch sync of every row. The counter is element-steps
// (parameters x steps) per second: the dense step's params/s is the same unit.
void BM_AdamWLazyEpoch(benchmark::State& state) {
  const ModelSpec spec = spec_of(0);
  const ParameterLayout layout = make_parameter_layout(spec);
  const size_t n = layout.total;
  const int64_t rows = kP * kP, steps = 80;
  auto params = random_vector(n, 7, 0.1f);
  std::vector<float> grads(n, 0.0f);
  OptimizerSettings settings;
  OptimizerState opt;
  opt.reset(settings, n);
  const SparseRows block{0, rows, kH};
  Optimizer optimizer(settings, params.data(), &opt, n, &block);
  const Dataset data = make_dataset(kP, Operation::kAdd, 0.8, 0);
  int64_t epoch = 0;
  for (auto _ : state) {
    const std::vector<int32_t> order = epoch_order(static_cast<int64_t>(data.train_indices.size()), 0, epoch++);
    for (int64_t s = 0; s < steps; ++s) {
      optimizer.zero_grad(grads.data());
      const int64_t count = std::min<int64_t>(kBatch, static_cast<int64_t>(order.size()) - s * kBatch);
      std::vector<int64_t> touched(count);
      for (int64_t i = 0; i < count; ++i) touched[i] = data.train_indices[order[s * kBatch + i]];
      optimizer.prepare_rows(touched.data(), count);
      for (int64_t r : touched)
        for (int64_t k = 0; k < kH; ++k) grads[r * kH + k] = 1e-3f;
      for (size_t i = static_cast<size_t>(rows * kH); i < n; ++i) grads[i] = 1e-3f;
      optimizer.step(3e-3, grads.data());
    }
    optimizer.sync();
    benchmark::DoNotOptimize(params.data());
  }
  state.counters["params/s"] =
      benchmark::Counter(static_cast<double>(n) * steps, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AdamWLazyEpoch)->Unit(benchmark::kMillisecond);

// Loss and accuracy on all P^2 pairs (train and validation), as every epoch does.
void BM_Evaluate(benchmark::State& state) {
  const ModelSpec spec = spec_of(static_cast<int>(state.range(0)));
  state.SetLabel(model_name(static_cast<int>(state.range(0))));
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params(layout.total);
  init_parameters(spec, layout, 1, params.data());
  const Dataset data = make_dataset(kP, Operation::kAdd, 0.8, 0);
  EvaluationWorkspace ws;
  for (auto _ : state) benchmark::DoNotOptimize(evaluate_splits(spec, layout, params.data(), data, &ws));
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * kP * kP * kH * kP * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Evaluate)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

// The measures every evaluation adds (train/measure.h), per model: range(1) 0 is fourier_ipr (two (2P, H) matrices
// for factored, one for mlp: about 2.6 MFLOP each of double matrix products), 1 the evaluation with softmax_collapse
// (compare with BM_Evaluate at the same train fraction, 0.3), 2 the per-tensor weight norms.
void BM_Measures(benchmark::State& state) {
  const ModelSpec spec = spec_of(static_cast<int>(state.range(0)));
  state.SetLabel(std::string(model_name(static_cast<int>(state.range(0)))) + (state.range(1) == 0 ? " fourier_ipr"
                                                                              : state.range(1) == 1
                                                                                  ? " evaluate+collapse"
                                                                                  : " weight_norms"));
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params(layout.total);
  init_parameters(spec, layout, 1, params.data());
  const Dataset data = make_dataset(kP, Operation::kAdd, 0.3, 0);
  EvaluationWorkspace ws;
  EvaluationOptions collapse;
  collapse.softmax_collapse = true;
  const SplitMetrics metrics;
  const MeasureInput input{spec, layout, params.data(), metrics, ws};
  for (auto _ : state) {
    if (state.range(1) == 0) benchmark::DoNotOptimize(mean_input_fourier_ipr(spec, layout, params.data()));
    if (state.range(1) == 1)
      benchmark::DoNotOptimize(evaluate_splits(spec, layout, params.data(), data, &ws, collapse));
    if (state.range(1) == 2) {
      nlohmann::json row;
      for (const Measure* m : registered_measures())
        if (std::string(m->name()) == "weight_norm/") m->log(input, &row);
      benchmark::DoNotOptimize(row);
    }
  }
}
BENCHMARK(BM_Measures)->ArgsProduct({{1, 2}, {0, 1, 2}})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace bilmod
