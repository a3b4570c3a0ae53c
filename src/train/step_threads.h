// --threads 0 (the default): how many threads a run's training steps use, measured on this machine at the run's
// start. Every kernel gives the same bits at any thread count, so this is a speed choice only. Splitting a small step
// (a mini-batch of 128 is ~100 us of one core's work) across cores can cost more in hand-offs and barriers than the
// second core gives (README "Two threads"); evaluation, over all P^2 pairs, always uses every core.
#pragma once
#include <cstdint>
#include <functional>

namespace bilmod {

// step() runs one training step's forward, loss and backward of `examples` examples on scratch buffers (no
// parameter changes). Returns the thread count it leaves set, and logs the measurement. Steps longer than 50 ms are
// not timed (large steps split well): every core.
int choose_step_threads(int all_threads, int64_t examples, const std::function<void()>& step);

}  // namespace bilmod
