// Counter-based random numbers: value i of stream `key` is a pure function of (key, i), so any epoch's
// batch order or any parameter's initial value can be recomputed without generator state (resume needs
// nothing saved) and from Python in a few lines (tests/parity/bilmod_reference.py does exactly that).
#pragma once
#include <cstdint>
#include <vector>

namespace bilmod {

// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijective avalanche mix of 64 bits.
inline uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Derive the key of a named sub-stream, e.g. stream_key(seed, kEpochOrderStream, epoch).
inline uint64_t stream_key(uint64_t seed, uint64_t purpose, uint64_t index) {
  return mix64(mix64(seed ^ 0x6A09E667F3BCC909ULL) ^ (purpose * 0x9E3779B97F4A7C15ULL) ^ mix64(index + 1));
}

// The i-th 64-bit draw of stream `key`.
inline uint64_t random_u64(uint64_t key, uint64_t i) { return mix64(key + (i + 1) * 0x9E3779B97F4A7C15ULL); }

// A draw in [0, n): the high 64 bits of draw * n (bias below 2^-40 for the n used here).
__extension__ typedef unsigned __int128 uint128_t;
inline uint64_t random_below(uint64_t key, uint64_t i, uint64_t n) {
  return static_cast<uint64_t>((static_cast<uint128_t>(random_u64(key, i)) * n) >> 64);
}

// A float in [0, 1) with 24 random bits.
inline float random_unit_float(uint64_t key, uint64_t i) {
  return static_cast<float>(random_u64(key, i) >> 40) * (1.0f / 16777216.0f);
}

// Purposes of the streams bilmod draws from.
enum : uint64_t { kSplitStream = 1, kEpochOrderStream = 2, kInitStream = 3 };

// Fisher-Yates, from the last position down: swap position j with random_below(key, n-1-j, j+1).
template <typename T>
void shuffle_in_place(std::vector<T>& values, uint64_t key) {
  for (size_t j = values.size(); j-- > 1;) {
    const size_t other = random_below(key, values.size() - 1 - j, j + 1);
    std::swap(values[j], values[other]);
  }
}

}  // namespace bilmod
