// The vector exp (src/model/vector_exp.h) against the C library's expf on every float in [-104, 89], the range
// README's Numerics section claims: 2.24e9 values, bit for bit. Below -104 expf is 0 and above 89 infinite (both
// sides, NaN and infinities are sampled in kernel_equivalence_test.cc). Labelled slow: the sanitizer stages skip it.
#include <gtest/gtest.h>

// GCC 12 warns inside its own AVX-512 headers (their _mm512_undefined_* placeholders) wherever they are inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>

#include "model/vector_exp.h"

namespace bilmod {
namespace {

#ifdef BILMOD_VECTOR_EXP
// Bit patterns [first, last] (both of one sign), 16 at a time; returns the number of differences and the first one.
uint64_t differences(uint32_t first, uint32_t last, uint32_t* first_difference) {
  constexpr uint32_t kBlock = 1u << 16;
  const uint64_t blocks = (static_cast<uint64_t>(last - first) + kBlock) / kBlock;
  uint64_t found = 0;
  uint32_t earliest = UINT32_MAX;
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : found) reduction(min : earliest)
  for (uint64_t b = 0; b < blocks; ++b) {
    alignas(64) float xs[16], ys[16];
    const uint64_t begin = first + b * kBlock, end = std::min<uint64_t>(begin + kBlock, uint64_t{last} + 1);
    for (uint64_t bits = begin; bits < end; bits += 16) {
      for (int j = 0; j < 16; ++j) {
        const uint32_t x = static_cast<uint32_t>(std::min<uint64_t>(bits + j, end - 1));
        std::memcpy(&xs[j], &x, 4);
      }
      _mm512_store_ps(ys, exp16(_mm512_load_ps(xs)));
      for (int j = 0; j < 16; ++j) {
        const float want = std::exp(xs[j]);
        if (std::memcmp(&want, &ys[j], 4) != 0) {
          ++found;
          uint32_t x;
          std::memcpy(&x, &xs[j], 4);
          earliest = std::min(earliest, x);
        }
      }
    }
  }
  *first_difference = earliest;
  return found;
}

TEST(VectorExpExhaustive, EveryFloatFromMinus104To89MatchesTheCLibrary) {
  uint32_t x0 = 0, x1 = 0;
  const uint32_t minus_104 = 0xc2d00000u, plus_89 = 0x42b20000u;
  float lo, hi;
  std::memcpy(&lo, &minus_104, 4);
  std::memcpy(&hi, &plus_89, 4);
  ASSERT_EQ(lo, -104.0f);
  ASSERT_EQ(hi, 89.0f);
  const uint64_t negative = differences(0x80000000u, minus_104, &x0);  // -0 down to -104
  const uint64_t positive = differences(0x00000000u, plus_89, &x1);    // +0 up to 89
  float f0, f1;
  std::memcpy(&f0, &x0, 4);
  std::memcpy(&f1, &x1, 4);
  EXPECT_EQ(negative, 0u) << "first at exp(" << f0 << ")";
  EXPECT_EQ(positive, 0u) << "first at exp(" << f1 << ")";
  const uint64_t values = (uint64_t{minus_104} - 0x80000000u + 1) + (uint64_t{plus_89} + 1);
  std::printf("  %llu floats in [-104, 89] compared\n", static_cast<unsigned long long>(values));
}
#else
TEST(VectorExpExhaustive, EveryFloatFromMinus104To89MatchesTheCLibrary) {
  GTEST_SKIP() << "built without AVX-512 and FMA: the softmax uses std::exp itself";
}
#endif

}  // namespace
}  // namespace bilmod
