#include "optim/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace bilmod {

std::optional<LrSchedule> parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrSchedule::kConstant;
  if (name == "cosine") return LrSchedule::kCosine;
  return std::nullopt;
}

std::string lr_schedule_name(LrSchedule schedule) { return schedule == LrSchedule::kConstant ? "constant" : "cosine"; }

std::optional<WarmupConvention> parse_warmup_convention(const std::string& name) {
  if (name == "bilmod") return WarmupConvention::kBilmod;
  if (name == "lambdalr") return WarmupConvention::kLambdaLr;
  return std::nullopt;
}

std::string warmup_convention_name(WarmupConvention convention) {
  return convention == WarmupConvention::kBilmod ? "bilmod" : "lambdalr";
}

double learning_rate_at(LrSchedule schedule, double base_lr, int64_t warmup_steps, int64_t total_steps, int64_t t,
                        WarmupConvention convention) {
  if (convention == WarmupConvention::kLambdaLr) t -= 1;
  if (warmup_steps > 0 && t < warmup_steps) return base_lr * static_cast<double>(t) / static_cast<double>(warmup_steps);
  if (schedule == LrSchedule::kConstant) return base_lr;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress =
      std::clamp(static_cast<double>(t - warmup_steps) / static_cast<double>(decay_steps), 0.0, 1.0);
  return base_lr * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace bilmod
