// --threads 0 (the default): how many threads a run's training steps use, measured on this machine at the run's
// start. Every kernel gives the same bits at any thread count, so this is a speed choice only. Splitting a small step
// (a mini-batch of 128 is ~100 us of one core's work) across cores can cost more in hand-offs and barriers than the
// second core gives (README "Two threads"); evaluation, over all P^2 pairs, always uses every core.
#pragma once
#include <functional>

namespace bilmod {

struct StepThreads {
  int threads = 1;          // what the steps use
  bool measured = false;    // false: not measured (one core, or a step too long to time at start)
  double one_us = 0, all_us = 0;  // a step's time at 1 thread and at every core, the best of three tries
};

// step() runs one training step's forward, loss and backward on scratch buffers (no parameter changes). Steps
// longer than 50 ms are not timed (large steps split well): every core.
StepThreads choose_step_threads(int all_threads, const std::function<void()>& step);

}  // namespace bilmod
