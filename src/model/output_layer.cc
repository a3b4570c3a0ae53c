#include "model/output_layer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>
#include <vector>

#include "model/kernels.h"
#include "model/subnormal_grid.h"
#include "util/simd_lanes.h"
#include "util/subnormal_watch.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace bilmod {

// Every kernel below keeps the plain loops' order of fused multiply-adds for each output element (docs/NUMERICS.md
// "Order of the output matmuls"), so the register-tiled versions give the same bits as the plain ones
// (tests/unit/kernel_equivalence_test.cc); tiling only decides which outputs are in registers together.

namespace {

#if defined(__AVX512F__)

// logits[e0..e0+E) x columns [c0, c0 + 16*C), the last chunk masked.
template <int E, int C>
inline void forward_tile(float* logits, const float* hidden, const float* weight_t, const float* bias, int64_t H,
                         int64_t P, int64_t e0, int64_t c0) {
  __mmask16 mask[C];
  for (int c = 0; c < C; ++c) mask[c] = first_lanes(P - c0 - 16 * c);
  __m512 acc[E][C];
  for (int e = 0; e < E; ++e)
    for (int c = 0; c < C; ++c) acc[e][c] = _mm512_setzero_ps();
  for (int64_t k = 0; k < H; ++k) {
    __m512 w[C];
    for (int c = 0; c < C; ++c) w[c] = _mm512_maskz_loadu_ps(mask[c], weight_t + k * P + c0 + 16 * c);
    for (int e = 0; e < E; ++e) {
      const __m512 h = _mm512_set1_ps(hidden[(e0 + e) * H + k]);
      for (int c = 0; c < C; ++c) acc[e][c] = _mm512_fmadd_ps(h, w[c], acc[e][c]);
    }
  }
  // Fully unrolled, like every loop over the tile: an accumulator read with a run-time index would make GCC keep the
  // whole tile in memory and store it at every step of the loop above.
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask[c], bias + c0 + 16 * c) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int e = 0; e < E; ++e) {
      const __m512 out = bias ? _mm512_add_ps(acc[e][c], b) : acc[e][c];
      _mm512_mask_storeu_ps(logits + (e0 + e) * P + c0 + 16 * c, mask[c], out);
    }
  }
}

template <int E>
inline void forward_rows(float* logits, const float* hidden, const float* weight_t, const float* bias, int64_t H,
                         int64_t P, int64_t e0) {
  for (int64_t c0 = 0; c0 < P; c0 += 64) {
    switch ((std::min<int64_t>(64, P - c0) + 15) / 16) {
      case 4:
        forward_tile<E, 4>(logits, hidden, weight_t, bias, H, P, e0, c0);
        break;
      case 3:
        forward_tile<E, 3>(logits, hidden, weight_t, bias, H, P, e0, c0);
        break;
      case 2:
        forward_tile<E, 2>(logits, hidden, weight_t, bias, H, P, e0, c0);
        break;
      default:
        forward_tile<E, 1>(logits, hidden, weight_t, bias, H, P, e0, c0);
        break;
    }
  }
}

// dweight_t rows [k0, k0+K) x columns [c0, c0 + 16*C): loaded once, every example added in order, stored once.
template <int K, int C>
inline void dweight_tile(float* dweight_t, const float* dlogits, const float* hidden, int64_t n, int64_t H, int64_t P,
                         int64_t k0, int64_t c0) {
  __mmask16 mask[C];
  for (int c = 0; c < C; ++c) mask[c] = first_lanes(P - c0 - 16 * c);
  __m512 acc[K][C];
#pragma GCC unroll 16
  for (int k = 0; k < K; ++k)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[k][c] = _mm512_maskz_loadu_ps(mask[c], dweight_t + (k0 + k) * P + c0 + 16 * c);
  for (int64_t e = 0; e < n; ++e) {
    __m512 d[C];
    for (int c = 0; c < C; ++c) d[c] = _mm512_maskz_loadu_ps(mask[c], dlogits + e * P + c0 + 16 * c);
    for (int k = 0; k < K; ++k) {
      const __m512 h = _mm512_set1_ps(hidden[e * H + k0 + k]);
      for (int c = 0; c < C; ++c) acc[k][c] = _mm512_fmadd_ps(h, d[c], acc[k][c]);
    }
  }
  // Fully unrolled, as in forward_tile (a run-time index would keep the tile in memory).
#pragma GCC unroll 16
  for (int k = 0; k < K; ++k)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(dweight_t + (k0 + k) * P + c0 + 16 * c, mask[c], acc[k][c]);
}

template <int K>
inline void dweight_rows(float* dweight_t, const float* dlogits, const float* hidden, int64_t n, int64_t H, int64_t P,
                         int64_t k0) {
  for (int64_t c0 = 0; c0 < P; c0 += 64) {
    switch ((std::min<int64_t>(64, P - c0) + 15) / 16) {
      case 4:
        dweight_tile<K, 4>(dweight_t, dlogits, hidden, n, H, P, k0, c0);
        break;
      case 3:
        dweight_tile<K, 3>(dweight_t, dlogits, hidden, n, H, P, k0, c0);
        break;
      case 2:
        dweight_tile<K, 2>(dweight_t, dlogits, hidden, n, H, P, k0, c0);
        break;
      default:
        dweight_tile<K, 1>(dweight_t, dlogits, hidden, n, H, P, k0, c0);
        break;
    }
  }
}

// Tiles are kTileRows rows (examples, or dweight rows) by 4 chunks of 16 columns: 24 accumulators and 4 weight
// vectors of the 32 registers. (16 accumulators reached 145 GFLOP/s forward on this machine, 24 reach 165.)
constexpr int64_t kTileRows = 6;

// Calls tile(std::integral_constant<int, R>{}) with R = rows, 1 <= rows <= kTileRows: a tile's row count is a
// template argument (its accumulators are registers), and the last block of a batch may be short.
template <typename Tile>
inline void with_rows(int64_t rows, Tile&& tile) {
  static_assert(kTileRows == 6, "one case per row count");
  switch (rows) {
    case 6:
      return tile(std::integral_constant<int, 6>{});
    case 5:
      return tile(std::integral_constant<int, 5>{});
    case 4:
      return tile(std::integral_constant<int, 4>{});
    case 3:
      return tile(std::integral_constant<int, 3>{});
    case 2:
      return tile(std::integral_constant<int, 2>{});
    default:
      return tile(std::integral_constant<int, 1>{});
  }
}

// forward_rows for rows e0 .. e0 + count, count <= kTileRows.
inline void forward_block(int64_t count, float* logits, const float* hidden, const float* weight_t, const float* bias,
                          int64_t H, int64_t P, int64_t e0) {
  with_rows(count, [&](auto rows) { forward_rows<rows()>(logits, hidden, weight_t, bias, H, P, e0); });
}

// dweight_rows for rows k0 .. k0 + count, count <= kTileRows.
inline void dweight_block(int64_t count, float* dweight_t, const float* dlogits, const float* hidden, int64_t n,
                          int64_t H, int64_t P, int64_t k0) {
  with_rows(count, [&](auto rows) { dweight_rows<rows()>(dweight_t, dlogits, hidden, n, H, P, k0); });
}

#endif  // __AVX512F__

}  // namespace

namespace {

// Silent inputs: where a unit's output weights are all below 2^-24 and its h is below 2^-126 (subnormal, late in a
// run), every product h * W[k][c] is below half the smallest subnormal and leaves the logit's value unchanged, so such
// h are read as zero and spare the microcode assists (docs/NUMERICS.md "Silent units in the forward").
constexpr float kSilentWeight = 0x1p-24f, kSmallestNormal = 0x1p-126f;

// silent[k] = 1 where every |weight_t[k][c]| < 2^-24; true if any is.
bool find_silent_inputs(const float* weight_t, int64_t H, int64_t P, std::vector<uint8_t>* silent) {
  silent->assign(static_cast<size_t>(H), 0);
  bool any = false;
  for (int64_t k = 0; k < H; ++k) {
    const float* row = weight_t + k * P;
    bool loud = false;  // some |w| >= 2^-24, or a NaN (a NaN weight never makes its unit silent)
    int64_t c = 0;
#if defined(__AVX512F__)
    // A compare per 16 (a scalar scan of the 11 K weights cost a batch of 128 half its matmul's time).
    const __m512 bound = _mm512_set1_ps(kSilentWeight);
    __mmask16 hits = 0;
    for (; c < P; c += 16) {
      const __mmask16 lanes = first_lanes(P - c);
      hits |= _mm512_mask_cmp_ps_mask(lanes, _mm512_abs_ps(_mm512_maskz_loadu_ps(lanes, row + c)), bound, _CMP_NLT_UQ);
    }
    loud = hits != 0;
#endif
    for (; c < P; ++c) loud = loud || !(std::abs(row[c]) < kSilentWeight);
    (*silent)[static_cast<size_t>(k)] = !loud;
    any = any || !loud;
  }
  return any;
}

// out (rows, H) = hidden rows with the silent units' activations below 2^-126 read as zero.
void silence_rows(const float* hidden, int64_t rows, int64_t H, const uint8_t* silent, float* out) {
  for (int64_t e = 0; e < rows; ++e)
    for (int64_t k = 0; k < H; ++k) {
      const float x = hidden[e * H + k];
      out[e * H + k] = silent[k] && std::abs(x) < kSmallestNormal ? 0.0f : x;
    }
}

}  // namespace

void output_forward(float* logits, const float* hidden, const float* weight_t, const float* bias, int64_t n,
                    int64_t hidden_dim, int64_t mod_basis) {
  const int64_t H = hidden_dim, P = mod_basis;
  thread_local std::vector<uint8_t> silent;  // (H,)
  const bool any_silent = find_silent_inputs(weight_t, H, P, &silent);
#if defined(__AVX512F__)
  // Blocks of kTileRows examples x 64 columns: 24 accumulators, each weight chunk loaded once per 6 examples.
  const int64_t blocks = (n + kTileRows - 1) / kTileRows;
  const uint8_t* silent_units = silent.data();
#pragma omp parallel for schedule(static) if (n * H * P > kParallelWorkThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t e0 = blk * kTileRows, rows = std::min(kTileRows, n - e0);
    if (any_silent) {
      thread_local std::vector<float> block;  // (rows, H) this block's activations, silent inputs zeroed
      block.resize(static_cast<size_t>(kTileRows * H));
      silence_rows(hidden + e0 * H, rows, H, silent_units, block.data());
      forward_block(rows, logits + e0 * P, block.data(), weight_t, bias, H, P, 0);
    } else {
      forward_block(rows, logits, hidden, weight_t, bias, H, P, e0);
    }
  }
#else
  const uint8_t* silent_units = silent.data();
#pragma omp parallel for schedule(static) if (n * H * P > kParallelWorkThreshold)
  for (int64_t e = 0; e < n; ++e) {
    float* out = logits + e * P;
    thread_local std::vector<float> row;  // (H,) this example's activations, silent inputs zeroed
    row.resize(static_cast<size_t>(H));
    if (any_silent) silence_rows(hidden + e * H, 1, H, silent_units, row.data());
    const float* h = any_silent ? row.data() : hidden + e * H;
    std::fill(out, out + P, 0.0f);
    for (int64_t k = 0; k < H; ++k) axpy(out, h[k], weight_t + k * P, P);
    if (bias) add_into(out, bias, P);
  }
#endif
}

#if defined(__AVX512F__)
namespace {
constexpr float kFadedWeight = 0x1p-100f;  // a unit whose output weights are all below this has "faded"

// The faded units' columns, split off weight_by_class (P, H): their indices and their weights (P, S);
// weight_by_class's copies become zeros, so the forward kernel computes nothing subnormal there.
struct FadedUnits {
  std::vector<int64_t> units;             // (S,)
  std::vector<float> weights;             // (P, S)
  std::vector<double> weights_as_double;  // (P, S)
};
void split_faded_units(float* weight_by_class, int64_t P, int64_t H, FadedUnits* faded) {
  faded->units.clear();
  for (int64_t k = 0; k < H; ++k) {
    float largest = 0.0f;
    for (int64_t c = 0; c < P; ++c) largest = std::max(largest, std::abs(weight_by_class[c * H + k]));
    if (largest < kFadedWeight) faded->units.push_back(k);  // (the grid path is exact for any weights, NaN included)
  }
  const auto S = static_cast<int64_t>(faded->units.size());
  faded->weights.resize(static_cast<size_t>(P * S));
  faded->weights_as_double.resize(static_cast<size_t>(P * S));
  for (int64_t c = 0; c < P; ++c)
    for (int64_t j = 0; j < S; ++j) {
      float& w = weight_by_class[c * H + faded->units[j]];
      faded->weights[c * S + j] = w;
      faded->weights_as_double[c * S + j] = static_cast<double>(w);
      w = 0.0f;
    }
}

// The faded units' dh for example rows [e0, e0 + rows), after the forward kernel wrote zero-weighted values there.
void faded_units_dhidden(int64_t rows, float* dhidden, const float* dlogits, const FadedUnits& faded, int64_t P,
                         int64_t H, int64_t e0) {
  const auto S = static_cast<int64_t>(faded.units.size());
  thread_local std::vector<float> dh;  // (S,)
  dh.resize(static_cast<size_t>(S));
  for (int64_t e = e0; e < e0 + rows; ++e) {
    dhidden_on_grid(dlogits + e * P, faded.weights.data(), faded.weights_as_double.data(), P, S, dh.data());
    for (int64_t j = 0; j < S; ++j) dhidden[e * H + faded.units[j]] = dh[j];
  }
}

// Seconds for one mini-batch's dL/dh (128 examples, H = 100, P = 113) late in a run, half the units faded (output
// weights ~1e-36, small gradients: the products are subnormal) by the forward kernel alone (the plain path) or with
// the faded units apart on the integer grid (the detour), as output_backward computes it on one thread.
double time_faded_dhidden(bool detour) {
  constexpr int64_t n = 128, H = 100, P = 113;
  thread_local std::vector<float> weights, scratch, dlogits, dhidden;
  if (weights.empty()) {
    weights.resize(P * H);
    dlogits.resize(n * P);
    dhidden.resize(n * H);
    uint32_t state = 12345;
    const auto next = [&state] {  // a small LCG in [-1, 1): the values only need to be ordinary
      state = state * 1664525u + 1013904223u;
      return static_cast<float>(state >> 8) * 0x1p-23f - 1.0f;
    };
    for (int64_t c = 0; c < P; ++c)
      for (int64_t k = 0; k < H; ++k) weights[c * H + k] = next() * (k % 2 ? 0.1f : 1e-36f);
    for (auto& d : dlogits) d = next() * 1e-3f;
  }
  scratch = weights;
  const auto start = std::chrono::steady_clock::now();
  thread_local FadedUnits faded;
  if (detour) split_faded_units(scratch.data(), P, H, &faded);
  for (int64_t e0 = 0; e0 < n; e0 += kTileRows) {
    const int64_t rows = std::min(kTileRows, n - e0);
    forward_block(rows, dhidden.data(), dlogits.data(), scratch.data(), nullptr, P, H, e0);
    if (detour) faded_units_dhidden(rows, dhidden.data(), dlogits.data(), faded, P, H, e0);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace
#endif

// Whether the backward forms the dL/dh of faded units on the integer grid (subnormal_grid.h; util/subnormal_watch.h):
// where it pays on this processor (measured), watching costs a scan of the weights per call.
std::shared_ptr<SubnormalWatch> make_faded_units_watch() {
#if defined(__AVX512F__)
  return std::make_shared<SubnormalWatch>(kMxcsrDenormalOperand, time_faded_dhidden);
#else
  return nullptr;
#endif
}

void output_backward(float* dhidden, float* dweight_t, float* dbias, const float* dlogits, const float* hidden,
                     const float* weight_t, int64_t n, int64_t hidden_dim, int64_t mod_basis, const uint8_t* unread,
                     SubnormalWatch* grid_watch) {
  const int64_t H = hidden_dim, P = mod_basis;
  const bool parallel = n * H * P > kParallelWorkThreshold;
#if defined(__AVX512F__)
  const bool watch = grid_watch != nullptr && grid_watch->watching();
#endif
  bool met = false;  // watching: some example was formed on the grid; not watching: the core met a subnormal operand
#pragma omp parallel if (parallel) reduction(|| : met)
  {
    // dhidden (n, H) = dlogits (n, P) @ weight_by_class (P, H): the forward product with the roles of H and P
    // swapped, so it runs on the forward's register tiles (one weight row broadcast against 16 hidden units at a
    // time) instead of P-long dot products that end in a horizontal sum. The transpose is 11 K floats against 2nHP
    // FLOPs. Every thread makes its own copy, so no core's strided writes wait on lines the other core holds.
    thread_local std::vector<float> weight_by_class;
    weight_by_class.resize(static_cast<size_t>(P * H));
    // An unread column's weights are taken as zero: a unit that stopped firing keeps output weights that only decay,
    // to ~1e-36 late in a run, and their products with dlogits, subnormal, cost this core a microcode assist per
    // vector. Its dhidden is never read (docs/NUMERICS.md "Work that is never read").
    for (int64_t k = 0; k < H; ++k) {
      const bool zero = unread != nullptr && unread[k] != 0;
      for (int64_t c = 0; c < P; ++c)
        weight_by_class[static_cast<size_t>(c * H + k)] = zero ? 0.0f : weight_t[k * P + c];
    }
#if defined(__AVX512F__)
    // dweight_t: blocks of kTileRows rows x 64 columns, each thread owning a fixed range of row blocks; each element sums
    // the examples in order. The examples go in chunks of kExampleChunk (dlogits and hidden of a chunk, ~110 KB,
    // stay in L2 while every tile passes over them; a full batch of 3830 examples, 3.2 MB, would be streamed from
    // memory once per tile): a tile's accumulators are stored after one chunk and loaded for the next, which
    // changes no operation and no order.
    constexpr int64_t kExampleChunk = 128;
    const int64_t row_blocks = (H + kTileRows - 1) / kTileRows;
    const Share my_blocks = my_share(row_blocks);
    for (int64_t e0 = 0; e0 < n; e0 += kExampleChunk) {
      const int64_t count = std::min(kExampleChunk, n - e0);
      const float* chunk_dlogits = dlogits + e0 * P;
      const float* chunk_hidden = hidden + e0 * H;
      for (int64_t blk = my_blocks.first; blk < my_blocks.last; ++blk) {
        const int64_t k0 = blk * kTileRows;
        dweight_block(std::min(kTileRows, H - k0), dweight_t, chunk_dlogits, chunk_hidden, count, H, P, k0);
      }
    }
    // dhidden: blocks of kTileRows examples, as output_forward; when watching, the faded units' columns apart, on
    // the integer grid (subnormal_grid.h).
    const int64_t example_blocks = (n + kTileRows - 1) / kTileRows;
    thread_local FadedUnits faded;
    if (watch) {
      split_faded_units(weight_by_class.data(), P, H, &faded);
      met = !faded.units.empty();
    } else {
      if (grid_watch) grid_watch->clear_flags();
    }
#pragma omp for schedule(static) nowait
    for (int64_t blk = 0; blk < example_blocks; ++blk) {
      const int64_t e0 = blk * kTileRows, rows = std::min(kTileRows, n - e0);
      forward_block(rows, dhidden, dlogits, weight_by_class.data(), nullptr, P, H, e0);
      if (watch && !faded.units.empty()) faded_units_dhidden(rows, dhidden, dlogits, faded, P, H, e0);
    }
    if (!watch && grid_watch) met = grid_watch->flags_raised();
#else
    // dweight_t row k accumulates over examples in order e = 0..n-1; rows are split across threads.
#pragma omp for schedule(static) nowait
    for (int64_t k = 0; k < H; ++k) {
      float* row = dweight_t + k * P;
      for (int64_t e = 0; e < n; ++e) axpy(row, hidden[e * H + k], dlogits + e * P, P);
    }
    // dhidden[e, :] = sum over c in order of dlogits[e, c] * weight_by_class[c, :]
#pragma omp for schedule(static) nowait
    for (int64_t e = 0; e < n; ++e) {
      float* out = dhidden + e * H;
      std::fill(out, out + H, 0.0f);
      for (int64_t c = 0; c < P; ++c) axpy(out, dlogits[e * P + c], weight_by_class.data() + c * H, H);
    }
#endif
#pragma omp single nowait
    if (dbias)
      for (int64_t e = 0; e < n; ++e) add_into(dbias, dlogits + e * P, P);
  }
#if defined(__AVX512F__)
  if (grid_watch) grid_watch->update(watch, met);
#else
  (void)met;
#endif
}

}  // namespace bilmod
