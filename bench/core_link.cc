// What it costs two cores of this machine to work on one step together: an OpenMP fork/join and barrier, a cache
// line's round trip from one core to the other and back, and one core reading the 45 KB (the output layer's weights
// at P = 113, H = 100) the other core has just written. A training step at mini-batch 128 takes ~100 us on one core;
// splitting it pays only where these costs, times the hand-offs a step needs, stay well below half of that.
// Prints the median of 7 measurements of each.
#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
volatile float g_sink;  // keeps the reader's sums

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

double fork_join_us() {
  constexpr int kRegions = 20000;
  std::atomic<int> sink{0};
  const auto start = Clock::now();
  for (int i = 0; i < kRegions; ++i) {
#pragma omp parallel num_threads(2)
    if (omp_get_thread_num() == 0) sink.fetch_add(1, std::memory_order_relaxed);
  }
  return seconds_since(start) / kRegions * 1e6;
}

double barrier_us() {
  constexpr int kBarriers = 20000;
  double seconds = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp barrier
    const auto start = Clock::now();
    for (int i = 0; i < kBarriers; ++i) {
#pragma omp barrier
    }
    if (omp_get_thread_num() == 0) seconds = seconds_since(start);
  }
  return seconds / kBarriers * 1e6;
}

double round_trip_ns() {
  constexpr int kTrips = 20000;
  alignas(64) std::atomic<int> flag{0};
  std::thread other([&] {
    pin_to(1);
    for (int i = 0; i < kTrips; ++i) {
      while (flag.load(std::memory_order_acquire) != 2 * i + 1) {
      }
      flag.store(2 * i + 2, std::memory_order_release);
    }
  });
  pin_to(0);
  const auto start = Clock::now();
  for (int i = 0; i < kTrips; ++i) {
    flag.store(2 * i + 1, std::memory_order_release);
    while (flag.load(std::memory_order_acquire) != 2 * i + 2) {
    }
  }
  const double seconds = seconds_since(start);
  other.join();
  return seconds / kTrips * 1e9;
}

double read_others_writes_us() {
  constexpr int kRounds = 500;
  std::vector<float> weights(113 * 100 + 113, 1.0f);
  std::atomic<int> turn{0};
  double reading = 0;
  std::thread reader([&] {
    pin_to(1);
    for (int i = 0; i < kRounds; ++i) {
      while (turn.load(std::memory_order_acquire) != 2 * i + 1) {
      }
      const auto start = Clock::now();
      float sum = 0;
      for (const float w : weights) sum += w;
      g_sink = sum;
      reading += seconds_since(start);
      turn.store(2 * i + 2, std::memory_order_release);
    }
  });
  pin_to(0);
  for (int i = 0; i < kRounds; ++i) {
    for (float& w : weights) w += 1.0f;
    turn.store(2 * i + 1, std::memory_order_release);
    while (turn.load(std::memory_order_acquire) != 2 * i + 2) {
    }
  }
  reader.join();
  return reading / kRounds * 1e6;
}

double median_of_7(double (*measure)()) {
  std::vector<double> runs;
  for (int i = 0; i < 7; ++i) runs.push_back(measure());
  std::nth_element(runs.begin(), runs.begin() + 3, runs.end());
  return runs[3];
}

}  // namespace

int main() {
  if (std::thread::hardware_concurrency() < 2) {
    std::printf("one core: nothing to measure between cores\n");
    return 0;
  }
  std::printf("OpenMP fork/join, 2 threads:             %6.2f us\n", median_of_7(fork_join_us));
  std::printf("OpenMP barrier, 2 threads:               %6.2f us\n", median_of_7(barrier_us));
  std::printf("cache line, core 0 -> core 1 -> core 0:  %6.0f ns\n", median_of_7(round_trip_ns));
  std::printf("core 1 reads 45 KB core 0 just wrote:    %6.2f us\n", median_of_7(read_others_writes_us));
  return 0;
}
