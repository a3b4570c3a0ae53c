// Learning rate at each optimiser step (docs/MODELS.md: --warmup-steps, --lr-schedule constant|cosine).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace bilmod {

enum class LrSchedule { kConstant, kCosine };
std::optional<LrSchedule> parse_lr_schedule(const std::string& name);
std::string lr_schedule_name(LrSchedule schedule);

// The rate of step t (counting from 1) of a run of total_steps steps: lr * min(t / warmup, 1), and for cosine,
// after warmup, lr * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2.
double learning_rate_at(LrSchedule schedule, double base_lr, int64_t warmup_steps, int64_t total_steps, int64_t t);

}  // namespace bilmod
