// What one core of this machine can do at most, measured rather than taken from a data sheet (the README's floor
// analysis divides by these): 512-bit FMA (the form the output matmuls use) and multiply-then-add (the form AdamW's
// formula keeps, each product rounded; -ffp-contract=off), on independent register accumulators, and the throughput of the divider for the square roots and divisions of AdamW.
// Nothing touches memory; every result feeds the next iteration so the compiler keeps every operation.
#include <benchmark/benchmark.h>

#include <string>

#include "optim/adamw_lanes.h"

#if defined(BILMOD_ADAMW_LANES)
#include <immintrin.h>

namespace {

using bilmod::FloatLanes;

constexpr int kAccumulators = 12;  // more than latency x throughput: the pipes, not the dependencies, bound the loop

// kFused: acc + h*w as one FMA (the matmuls); otherwise a multiply then an add (AdamW's rounded products).
template <bool kFused>
void BM_Peak(benchmark::State& state) {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  __m512 w = _mm512_set1_ps(0.999f), h[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) h[i] = _mm512_set1_ps(1e-4f * static_cast<float>(i + 1));
  for (auto _ : state) {
    for (int r = 0; r < 64; ++r) {
      for (int i = 0; i < kAccumulators; ++i)
        acc[i] = kFused ? _mm512_fmadd_ps(h[i], w, acc[i]) : _mm512_add_ps(acc[i], _mm512_mul_ps(h[i], w));
      asm volatile("" : "+v"(w));
    }
  }
  for (int i = 0; i < kAccumulators; ++i) benchmark::DoNotOptimize(acc[i]);
  state.counters["GFLOP/s"] =
      benchmark::Counter(64.0 * kAccumulators * 32 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_TEMPLATE(BM_Peak, false)->Name("BM_PeakMulAdd");
BENCHMARK_TEMPLATE(BM_Peak, true)->Name("BM_PeakFma");

// range(0): 0 = square root, 1 = division, 2 = one of each (AdamW's pair), on registers of N lanes (16, 8, 4: AdamW's
// replay keeps a row's last few elements in the narrowest register that holds them). Values stay near 1 (no
// subnormals). ns/op is per instruction, whatever its width.
template <int N>
void BM_Divider(benchmark::State& state) {
  using L = FloatLanes<N>;
  const int kind = static_cast<int>(state.range(0));
  typename L::V x[8];
  for (int i = 0; i < 8; ++i) x[i] = L::set1(1.0f + 0.1f * static_cast<float>(i));
  const typename L::V c = L::set1(1.0001f);
  for (auto _ : state) {
    for (int r = 0; r < 16; ++r)
      for (int i = 0; i < 8; ++i) {
        if (kind == 0 || (kind == 2 && i % 2 == 0))
          x[i] = L::sqrt(x[i]);
        else
          x[i] = L::div(c, x[i]);  // c / (c / x) = x: stays put
      }
  }
  for (int i = 0; i < 8; ++i) benchmark::DoNotOptimize(x[i]);
  state.SetLabel(std::string(kind == 0   ? "sqrt"
                             : kind == 1 ? "div"
                                         : "sqrt+div") +
                 ", " + std::to_string(N) + " lanes");
  state.counters["ns/op"] =
      benchmark::Counter(16.0 * 8, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK_TEMPLATE(BM_Divider, 16)->DenseRange(0, 2);
BENCHMARK_TEMPLATE(BM_Divider, 8)->DenseRange(0, 2);
BENCHMARK_TEMPLATE(BM_Divider, 4)->DenseRange(0, 2);

}  // namespace
#endif  // BILMOD_ADAMW_LANES
