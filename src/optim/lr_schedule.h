// Learning rate at each optimiser step (docs/MODELS.md: --warmup-steps, --lr-schedule constant|cosine).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace bilmod {

enum class LrSchedule { kConstant, kCosine };
std::optional<LrSchedule> parse_lr_schedule(const std::string& name);
std::string lr_schedule_name(LrSchedule schedule);

// Where the schedule's clock starts (--warmup-convention):
//   kBilmod:   step t (from 1) is at schedule position t: the first step already runs at lr / warmup.
//   kLambdaLr: PyTorch's LambdaLR(opt, f) stepped once after each optimiser step, as Nanda et al. and Zhong et al.
//              train: step t is at position t - 1, so the first step runs at f(0) = 0 (AdamW's moments take the
//              first gradient and the weights decay by lr x wd = 0).
enum class WarmupConvention { kBilmod, kLambdaLr };
std::optional<WarmupConvention> parse_warmup_convention(const std::string& name);
std::string warmup_convention_name(WarmupConvention convention);

// The rate of step t (counting from 1) of a run of total_steps steps, at position s (t, or t - 1 under kLambdaLr):
// lr * min(s / warmup, 1), and for cosine, after warmup, lr * (1 + cos(pi * (s - warmup) / (total - warmup))) / 2.
double learning_rate_at(LrSchedule schedule, double base_lr, int64_t warmup_steps, int64_t total_steps, int64_t t,
                        WarmupConvention convention = WarmupConvention::kBilmod);

}  // namespace bilmod
