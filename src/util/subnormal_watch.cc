#include "util/subnormal_watch.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace bilmod {

namespace {
DetourPolicy policy_from_environment() {
  const char* value = std::getenv("BILMOD_SUBNORMAL_DETOURS");
  if (value != nullptr && std::strcmp(value, "always") == 0) return DetourPolicy::kAlways;
  if (value != nullptr && std::strcmp(value, "never") == 0) return DetourPolicy::kNever;
  return DetourPolicy::kMeasure;
}

std::atomic<int>& policy() {
  static std::atomic<int> p{static_cast<int>(policy_from_environment())};
  return p;
}
}  // namespace

void set_detour_policy(DetourPolicy p) { policy().store(static_cast<int>(p), std::memory_order_relaxed); }
DetourPolicy detour_policy() { return static_cast<DetourPolicy>(policy().load(std::memory_order_relaxed)); }

#if defined(__SSE__)
DetourTiming measure_detour(double (*time_path)(bool detour)) {
  DetourTiming best{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
  time_path(false);  // warm: caches, buffers, the first touch of pages
  time_path(true);
  for (int attempt = 0; attempt < 7; ++attempt) {
    best.plain = std::min(best.plain, time_path(false));
    best.detour = std::min(best.detour, time_path(true));
  }
  return best;
}
#endif

}  // namespace bilmod
