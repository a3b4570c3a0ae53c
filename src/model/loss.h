// The training losses besides float32 cross-entropy (model/cross_entropy.h), as the grokking papers' code computes them
// (docs/MODELS.md "Losses"). Every loss has cross_entropy's interface: per-example loss (its batch mean is the
// loss torch reports), argmax accuracy, and dL/dlogits of the batch mean times grad_scale' (see below).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace bilmod {

enum class LossKind { kCrossEntropy, kStableMax, kMse };
std::optional<LossKind> parse_loss_kind(const std::string& name);
std::string loss_kind_name(LossKind kind);

// --loss-precision: cross_entropy and mse from the float32 logits, or from the logits cast to double.
enum class LossPrecision { kFloat32, kFloat64 };
std::optional<LossPrecision> parse_loss_precision(const std::string& name);
std::string loss_precision_name(LossPrecision precision);

struct LossSettings {
  LossKind kind = LossKind::kCrossEntropy;
  bool float64 = false;  // --loss-precision float64: cross_entropy and mse from the logits cast to double
};

// loss[e], correct[e] (either may be null) and, when dlogits is not null, grad_scale * dloss[e]/dlogits[e] (dlogits
// may alias logits). grad_scale is 1 / (examples in the micro-batch * accumulation steps), the factor of torch's
// mean and of loss / k. Per kind:
//   cross_entropy, float32: model/cross_entropy.h.
//   cross_entropy, float64: cross_entropy_float64: log_softmax of double(logits); the gradient in double, rounded once.
//   stablemax (always float64, as stablemax_cross_entropy): s(x) = x + 1 (x >= 0), 1 / (1 - x + 1e-30) (x < 0);
//     loss = -log(s(x_y) / sum_c s(x_c)).
//   mse: F.mse_loss(logits, one_hot(y)) with its default mean over the batch and the P classes: loss[e] is
//     sum_c (x_c - [c == y])^2 / P, and the batch mean of loss[e] is F.mse_loss's value.
void compute_loss(const LossSettings& settings, const float* logits, const int32_t* labels, int64_t n,
                  int64_t mod_basis, float grad_scale, float* dlogits, double* loss, uint8_t* correct);

// s(x) of StableMax, in double.
inline double stablemax_s(double x) { return x < 0 ? 1.0 / (1.0 - x + 1e-30) : x + 1.0; }

// Softmax collapse of one row (Prieto et al.): the float32 sum of exp(x_c - max x), in class order, is exactly 1,
// so every class but the top one contributes nothing and its gradient is lost.
bool softmax_collapsed(const float* logits, int64_t mod_basis);

}  // namespace bilmod
