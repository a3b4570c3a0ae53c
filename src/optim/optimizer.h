// The optimisers, exactly as torch.optim runs them (MODELS.md "AdamW, exactly as torch.optim.AdamW"):
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

}  // namespace bilmod
