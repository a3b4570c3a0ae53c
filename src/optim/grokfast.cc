#include "optim/grokfast.h"

#include <algorithm>

namespace bilmod {

namespace {
constexpr int64_t kParallelThreshold = 1 << 15;
}

std::optional<GrokfastKind> parse_grokfast_kind(const std::string& name) {
  if (name == "none") return GrokfastKind::kNone;
  if (name == "ema") return GrokfastKind::kEma;
  if (name == "ma") return GrokfastKind::kMa;
  return std::nullopt;
}

std::string grokfast_kind_name(GrokfastKind kind) {
  switch (kind) {
    case GrokfastKind::kNone:
      return "none";
    case GrokfastKind::kEma:
      return "ema";
    case GrokfastKind::kMa:
      return "ma";
  }
  return "";
}

uint64_t grokfast_state_bytes(const GrokfastSettings& settings, uint64_t n_params) {
  switch (settings.kind) {
    case GrokfastKind::kEma:
      return n_params * sizeof(float);
    case GrokfastKind::kMa:
      return static_cast<uint64_t>(settings.window) * n_params * sizeof(float);
    default:
      return 0;
  }
}

void GrokfastState::reset(const GrokfastSettings& settings, size_t n_params) {
  steps = 0;
  ema.assign(settings.kind == GrokfastKind::kEma ? n_params : 0, 0.0f);
  window.assign(settings.kind == GrokfastKind::kMa ? static_cast<size_t>(settings.window) * n_params : 0, 0.0f);
}

void grokfast_apply(const GrokfastSettings& settings, GrokfastState* state, float* grads, size_t n) {
  const auto count = static_cast<int64_t>(n);
  const float lamb = static_cast<float>(settings.lamb);
  if (settings.kind == GrokfastKind::kEma) {
    float* ema = state->ema.data();
    if (state->steps == 0) std::copy(grads, grads + n, ema);  // the state starts as the first gradient
    const float alpha = static_cast<float>(settings.alpha), rest = static_cast<float>(1.0 - settings.alpha);
#pragma omp parallel for simd schedule(static) if (count > kParallelThreshold)
    for (int64_t i = 0; i < count; ++i) {
      const float s = ema[i] * alpha + grads[i] * rest;  // grads[n] * alpha + p.grad * (1 - alpha)
      ema[i] = s;
      grads[i] = grads[i] + s * lamb;  // p.grad + grads[n] * lamb
    }
  } else if (settings.kind == GrokfastKind::kMa) {
    const int64_t w = settings.window;
    const int64_t slot = state->steps % w;
    std::copy(grads, grads + n, state->window.data() + static_cast<size_t>(slot) * n);
    if (state->steps + 1 >= w) {  // the window is full (warmup=True: no change before)
      const float* ring = state->window.data();
      const float size = static_cast<float>(w);
      const int64_t oldest = (slot + 1) % w;
      constexpr int64_t kChunk = 2048;  // the chunk's running sums stay in L1 while the window streams past
      const int64_t chunks = (count + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (count * w > kParallelThreshold)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t begin = c * kChunk, len = std::min(kChunk, count - begin);
        float sum[kChunk];
        std::fill(sum, sum + len, 0.0f);  // Python's sum(): 0 + oldest + ... + newest
        for (int64_t k = 0; k < w; ++k) {
          const float* g = ring + static_cast<size_t>((oldest + k) % w) * n + static_cast<size_t>(begin);
#pragma omp simd
          for (int64_t j = 0; j < len; ++j) sum[j] += g[j];
        }
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) grads[begin + j] = grads[begin + j] + (sum[j] / size) * lamb;
      }
    }
  }
  state->steps += 1;
}

}  // namespace bilmod
