// The optimisers, exactly as torch.optim runs them (docs/MODELS.md "AdamW, as torch.optim.AdamW computes it"):
// the same operations in the same order, in float32, with the bias corrections in double as Python does.
// One flat loop over one contiguous buffer per kind of state.
#pragma once
#include <cstdint>
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
  double momentum = 0.0;                           // SGD
};

struct OptimizerState {
  int64_t step = 0;             // optimiser steps taken (torch's state["step"])
  std::vector<float> exp_avg;     // (N,) AdamW m
  std::vector<float> exp_avg_sq;  // (N,) AdamW v
  std::vector<float> momentum_buffer;  // (N,) SGD with momentum != 0
  void reset(const OptimizerSettings& settings, size_t n_params);
};

// One step at learning rate lr over params[0..n): state->step becomes t = step + 1.
void optimizer_step(const OptimizerSettings& settings, double lr, float* params, const float* grads,
                    OptimizerState* state, size_t n);

// Lazy AdamW over a block of rows that each step touches sparsely (the seed model's bilinear.weight: one row of H per
// pair, a batch touches at most `batch` of its P*P rows): a row is brought up to date when next needed by replaying
// its zero-gradient steps, the same bits as the dense update (docs/NUMERICS.md "Lazy AdamW rows"), so a step streams
// only the batch's rows instead of all P*P. Rows are current through row_step[r]; every row is current through
// synced_step. Call optimizer_catch_up_rows on a batch's rows before its forward pass, and optimizer_sync before
// anything else reads the parameters or the optimiser state (evaluation, norms, checkpoints, the end of training).
struct AdamWStepScalars {
  float decay = 1;            // 1 - lr * wd
  float neg_step_size = 0;    // -lr / bias_correction1
  double inv_bc2_sqrt = 1;    // 1 / float(sqrt(bias_correction2)), in double (see optimizer.cc: exact)
};
struct LazyRows {
  bool enabled = false;
  size_t offset = 0;                      // first element of the row block in the flat buffer
  int64_t rows = 0, width = 0;            // the block is (rows, width)
  int64_t synced_step = 0;                // every row is current through this step
  std::vector<int64_t> row_step;          // (rows,) step through which row r is current
  std::vector<AdamWStepScalars> scalars;  // (steps since synced_step,) entry i: step synced_step + 1 + i
  std::vector<int64_t> pending;           // rows touched by the last step (their gradients to clear)
  std::vector<int64_t> pending_from;      // scratch of optimizer_step_lazy: each new row's step before this one
};
// Lazy updates for the block [offset, offset + rows*width), starting at the optimiser's current step; disabled
// (dense steps) unless the optimiser is AdamW.
LazyRows make_lazy_rows(const OptimizerSettings& settings, const OptimizerState& state, size_t offset, int64_t rows,
                        int64_t width);
// Clears the gradient buffer for the next step: everything outside the block, and the block's rows the last step
// touched (the others are still zero). Dense clear when lazy is disabled.
void clear_gradients(LazyRows* lazy, float* grads, size_t n);
// One optimiser step in which only rows touched[0..count) of the block may have a non-zero gradient (duplicates
// allowed). Dense everywhere else. Equivalent, bit for bit, to optimizer_step followed by optimizer_sync.
void optimizer_step_lazy(const OptimizerSettings& settings, double lr, float* params, const float* grads,
                         OptimizerState* state, size_t n, LazyRows* lazy, const int64_t* touched, int64_t count);
// Brings rows[0..count) of the block up to state.step (duplicates allowed): before a forward pass reads them.
void optimizer_catch_up_rows(const OptimizerSettings& settings, float* params, OptimizerState* state, LazyRows* lazy,
                             const int64_t* rows, int64_t count);
// Brings every row up to state.step.
void optimizer_sync(const OptimizerSettings& settings, float* params, OptimizerState* state, LazyRows* lazy);

}  // namespace bilmod
