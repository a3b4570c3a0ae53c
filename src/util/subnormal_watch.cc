#include "util/subnormal_watch.h"

#include <algorithm>
#include <atomic>
#include <limits>

namespace bilmod {

namespace {
// Set once at the command line's boundary (cli/environment.cc: BILMOD_SUBNORMAL_DETOURS) or by a test.
std::atomic<int>& policy() {
  static std::atomic<int> p{static_cast<int>(DetourPolicy::kMeasure)};
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
