#include "data/torch_randperm.h"

#include <limits>
#include <random>

namespace bilmod {

std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed) {
  std::vector<int64_t> r(static_cast<size_t>(n > 0 ? n : 0));
  // at::mt19937 keeps the standard initialisation (init_genrand) of the seed's low 32 bits: std::mt19937's.
  std::mt19937 engine(static_cast<uint32_t>(seed & 0xffffffffu));
  if (n < static_cast<int64_t>(std::numeric_limits<uint32_t>::max() / 20)) {
    for (int64_t i = 0; i < n; ++i) r[static_cast<size_t>(i)] = i;
    for (int64_t i = 0; i + 1 < n; ++i) {
      const int64_t z = static_cast<int64_t>(static_cast<uint64_t>(engine()) % static_cast<uint64_t>(n - i));
      std::swap(r[static_cast<size_t>(i)], r[static_cast<size_t>(i + z)]);
    }
    return r;
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t hi = engine(), lo = engine();
    const auto z = static_cast<size_t>(((hi << 32) | lo) % static_cast<uint64_t>(i + 1));
    r[static_cast<size_t>(i)] = r[z];
    r[z] = i;
  }
  return r;
}

int64_t torch_split_train_count(int64_t n, double train_frac) {
  return static_cast<int64_t>(static_cast<double>(n) * train_frac);
}

}  // namespace bilmod
