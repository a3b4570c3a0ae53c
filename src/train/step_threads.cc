#include "train/step_threads.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

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

StepThreads choose_step_threads(int all_threads, const std::function<void()>& step) {
  StepThreads choice;
  choice.threads = all_threads;
  if (all_threads <= 1) return choice;
  // Warm both (caches, OpenMP's thread pool), then three interleaved tries of each, ~2 ms per try at the most.
  const double warm = std::min(time_steps(1, 1, step), time_steps(all_threads, 1, step));
  if (warm > 0.05) {
    omp_set_num_threads(all_threads);
    return choice;
  }
  const int count = std::clamp(static_cast<int>(2e-3 / std::max(warm, 1e-6)), 1, 16);
  double one = 1e30, all = 1e30;
  for (int round = 0; round < 3; ++round) {
    one = std::min(one, time_steps(1, count, step));
    all = std::min(all, time_steps(all_threads, count, step));
  }
  choice.measured = true;
  choice.one_us = one * 1e6;
  choice.all_us = all * 1e6;
  choice.threads = all < one ? all_threads : 1;
  omp_set_num_threads(choice.threads);
  return choice;
}

}  // namespace bilmod
