// The optimiser as the training loop sees it: zero_grad, prepare_rows, step, sync. The numbers are torch.optim's
// (docs/MODELS.md "AdamW, as torch.optim.AdamW computes it"): the same operations in the same order, in float32,
// with the bias corrections in double as Python does.
//
// Two ways compute them, bit for bit the same (tests/unit/optimizer_paths_test.cc, tests/cli/test_optimizer_paths.py):
// - the reference (adamw_reference.h): torch's formula, one element at a time, every parameter every step;
// - the fast path (the default): vector lanes (adamw_lanes.h), lazy rows (lazy_rows.h) for a block that each step
//   touches sparsely, and exact detours around subnormal floats where they pay on this processor (adamw_detour.h).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bilmod {

enum class OptimizerKind { kAdamW, kSgd };
std::optional<OptimizerKind> parse_optimizer_kind(const std::string& name);
std::string optimizer_kind_name(OptimizerKind kind);

struct OptimizerSettings {
  OptimizerKind kind = OptimizerKind::kAdamW;
  double weight_decay = 0.5;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW
  double momentum = 0.0;                          // SGD
};

struct OptimizerState {
  int64_t step = 0;                    // optimiser steps taken (torch's state["step"])
  std::vector<float> exp_avg;          // (N,) AdamW m
  std::vector<float> exp_avg_sq;       // (N,) AdamW v
  std::vector<float> momentum_buffer;  // (N,) SGD with momentum != 0
  void reset(const OptimizerSettings& settings, size_t n_params);
};

// Which code computes the steps. The environment's BILMOD_OPTIMIZER (fast, reference), read once by the command line
// (cli/environment.cc), sets the process's default.
enum class OptimizerPath { kFast, kReference };
OptimizerPath default_optimizer_path();
void set_default_optimizer_path(OptimizerPath path);

// A (rows, width) block of the parameters, from element `offset`, of which each step's batch reads and updates a
// few rows (the seed model's bilinear.weight: one row of H per pair).
struct SparseRows {
  size_t offset = 0;
  int64_t rows = 0, width = 0;
};

struct LazyRows;
class SubnormalWatch;

class Optimizer {
 public:
  // Steps params[0..n) with `state` (both outlive the optimiser). sparse: a block whose rows the fast path updates
  // only when read (nullptr: none).
  Optimizer(const OptimizerSettings& settings, float* params, OptimizerState* state, size_t n,
            const SparseRows* sparse = nullptr, OptimizerPath path = default_optimizer_path());
  ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Zeroes grads[0..n) for the next step (where rows are lazy, only what the last step wrote).
  void zero_grad(float* grads);
  // Rows of the sparse block that the next forward pass reads, and so the next step updates: brought up to date.
  // Duplicates allowed; a no-op without a sparse block.
  void prepare_rows(const int64_t* rows, int64_t count);
  // One step at learning rate lr: state->step becomes step + 1. Where rows are lazy, only the rows prepared since
  // the last step may have a non-zero gradient.
  void step(double lr, const float* grads);
  // Brings every parameter and moment up to date: before anything else reads them (evaluation, checkpoints).
  void sync();
  // Whether the sparse block's rows are updated lazily (the fast AdamW path with a sparse block).
  bool lazy() const;

 private:
  OptimizerSettings settings_;
  float* params_;
  OptimizerState* state_;
  size_t n_;
  OptimizerPath path_;
  std::unique_ptr<LazyRows> lazy_;  // null unless lazy()
  // The dense step's subnormal switch (optim/adamw_fast.h): this optimiser's, so this run's, measured at its first step.
  std::shared_ptr<SubnormalWatch> watch_;
};

}  // namespace bilmod
