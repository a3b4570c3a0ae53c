// Grokfast (Lee et al. 2024): amplify the slow part of the gradient, between backward and the optimiser step, as
// grokfast.py's gradfilter_ema and gradfilter_ma (docs/MODELS.md "Grokfast"). Both filters are elementwise,
// so one pass over the flat gradient buffer is the same as one per parameter tensor.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bilmod {

enum class GrokfastKind { kNone, kEma, kMa };
std::optional<GrokfastKind> parse_grokfast_kind(const std::string& name);
std::string grokfast_kind_name(GrokfastKind kind);

struct GrokfastSettings {
  GrokfastKind kind = GrokfastKind::kNone;
  double alpha = 0.98;   // EMA: state = alpha * state + (1 - alpha) * g
  double lamb = 2.0;     // g = g + lamb * (state | mean of the window)
  int64_t window = 100;  // MA: gradients kept
};

// The largest filter state a run may hold (MA keeps `window` copies of every gradient): refused beyond, rather than
// swapping.
constexpr uint64_t kGrokfastMaxStateBytes = uint64_t{4} << 30;
// Bytes of filter state for n parameters.
uint64_t grokfast_state_bytes(const GrokfastSettings& settings, uint64_t n_params);

struct GrokfastState {
  int64_t steps = 0;          // gradients filtered so far
  std::vector<float> ema;     // (N,) EMA: the filtered gradient
  std::vector<float> window;  // (window, N) MA: ring of raw gradients, step t's in slot t % window
  void reset(const GrokfastSettings& settings, size_t n_params);
};

// Filters grads[0..n) in place and records this step's gradient in the state.
//   EMA: first step state = g; every step state = state * alpha + g * (1 - alpha), then g = g + state * lamb.
//   MA:  g enters the window; once it holds `window` gradients, g = g + (sum oldest..newest / window) * lamb.
// float32 throughout with each operation rounded as torch rounds it (alpha, 1 - alpha, lamb: doubles cast to float).
void grokfast_apply(const GrokfastSettings& settings, GrokfastState* state, float* grads, size_t n);

}  // namespace bilmod
