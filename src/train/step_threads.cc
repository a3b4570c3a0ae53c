#include "train/step_threads.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "util/log.h"

namespace bilmod {

namespace {

// Seconds per step over `count` steps at `threads`.
double time_steps(int threads, int count, const std::function<void()>& step) {
  omp_set_num_threads(threads);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) step();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / count;
}

}  // namespace

int choose_step_threads(int all_threads, int64_t examples, const std::function<void()>& step) {
  if (all_threads <= 1) return all_threads;
  // Warm both (caches, OpenMP's thread pool), then three interleaved tries of each, ~2 ms per try at the most.
  const double warm = std::min(time_steps(1, 1, step), time_steps(all_threads, 1, step));
  if (warm > 0.05) {
    omp_set_num_threads(all_threads);
    return all_threads;
  }
  const int count = std::clamp(static_cast<int>(2e-3 / std::max(warm, 1e-6)), 1, 16);
  double one = 1e30, all = 1e30;
  for (int round = 0; round < 3; ++round) {
    one = std::min(one, time_steps(1, count, step));
    all = std::min(all, time_steps(all_threads, count, step));
  }
  const int threads = all < one ? all_threads : 1;
  omp_set_num_threads(threads);
  char line[200];
  std::snprintf(line, sizeof line,
                "threads: steps on %d of %d (a step of %lld examples took %.0f us on 1 thread, "
                "%.0f us on %d), evaluation on %d",
                threads, all_threads, static_cast<long long>(examples), one * 1e6, all * 1e6, all_threads, all_threads);
  log::info(line, {{"step_threads", threads},
                   {"threads", all_threads},
                   {"step_us_1", std::lround(one * 1e6)},
                   {"step_us_all", std::lround(all * 1e6)}});
  return threads;
}

}  // namespace bilmod
