#include "optim/optimizer.h"

#include <atomic>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "optim/adamw_fast.h"
#include "optim/adamw_scalars.h"
#include "optim/lazy_rows.h"
#include "optim/torch_formula.h"

namespace bilmod {

std::optional<OptimizerKind> parse_optimizer_kind(const std::string& name) {
  if (name == "adamw") return OptimizerKind::kAdamW;
  if (name == "sgd") return OptimizerKind::kSgd;
  return std::nullopt;
}

std::string optimizer_kind_name(OptimizerKind kind) { return kind == OptimizerKind::kAdamW ? "adamw" : "sgd"; }

void OptimizerState::reset(const OptimizerSettings& settings, size_t n_params) {
  step = 0;
  exp_avg.assign(settings.kind == OptimizerKind::kAdamW ? n_params : 0, 0.0f);
  exp_avg_sq.assign(settings.kind == OptimizerKind::kAdamW ? n_params : 0, 0.0f);
  momentum_buffer.assign(settings.kind == OptimizerKind::kSgd && settings.momentum != 0.0 ? n_params : 0, 0.0f);
}

namespace {
std::atomic<int> g_default_path{static_cast<int>(OptimizerPath::kFast)};
}  // namespace

OptimizerPath default_optimizer_path() {
  return static_cast<OptimizerPath>(g_default_path.load(std::memory_order_relaxed));
}
void set_default_optimizer_path(OptimizerPath path) {
  g_default_path.store(static_cast<int>(path), std::memory_order_relaxed);
}

Optimizer::Optimizer(const OptimizerSettings& settings, float* params, OptimizerState* state, size_t n,
                     const SparseRows* sparse, OptimizerPath path)
    : settings_(settings), params_(params), state_(state), n_(n), path_(path), watch_(make_adamw_watch()) {
  // Only AdamW's fast path has lazy rows: SGD's step is one pass, and the reference updates every row every step.
  if (sparse && sparse->rows > 0 && sparse->width > 0 && settings.kind == OptimizerKind::kAdamW &&
      path == OptimizerPath::kFast)
    lazy_ = std::make_unique<LazyRows>(make_lazy_rows(*sparse, state->step));
}

Optimizer::~Optimizer() = default;

bool Optimizer::lazy() const { return lazy_ != nullptr; }

void Optimizer::zero_grad(float* grads) {
  if (lazy_)
    lazy_zero_grad(lazy_.get(), grads, n_);
  else
    std::fill(grads, grads + n_, 0.0f);
}

void Optimizer::prepare_rows(const int64_t* rows, int64_t count) {
  if (lazy_)
    lazy_prepare_rows(adamw_constants(settings_), params_, state_->exp_avg.data(), state_->exp_avg_sq.data(),
                      state_->step, lazy_.get(), rows, count);
}

void Optimizer::step(double lr, const float* grads) {
  const int64_t t = ++state_->step;
  if (settings_.kind == OptimizerKind::kSgd) {
    sgd_torch_step(settings_, lr, t, params_, grads,
                   state_->momentum_buffer.empty() ? nullptr : state_->momentum_buffer.data(), n_);
    return;
  }
  float* m = state_->exp_avg.data();
  float* v = state_->exp_avg_sq.data();
  if (path_ == OptimizerPath::kReference)
    adamw_torch_step(settings_, lr, t, params_, grads, m, v, n_);
  else if (lazy_)
    lazy_step(adamw_constants(settings_), adamw_scalars(settings_, lr, t), t, params_, grads, m, v, n_, lazy_.get(),
              watch_.get());
  else
    adamw_fast_range(adamw_constants(settings_), adamw_scalars(settings_, lr, t), params_, grads, m, v,
                     static_cast<int64_t>(n_), watch_.get());
}

void Optimizer::sync() {
  if (lazy_)
    lazy_sync(adamw_constants(settings_), params_, state_->exp_avg.data(), state_->exp_avg_sq.data(), state_->step,
              lazy_.get());
}

}  // namespace bilmod
