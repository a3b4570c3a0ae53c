// Masks for AVX-512 loops over rows whose length is not a multiple of 16: the last vector is masked, not a scalar tail.
#pragma once
#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>

namespace bilmod {

// The first min(count, 16) of 16 lanes (count >= 0).
inline __mmask16 first_lanes(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << count) - 1);
}

}  // namespace bilmod
#endif
