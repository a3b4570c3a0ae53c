#include "data/torch_randperm.h"

#include <random>

namespace bilmod {

std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed) {
  std::vector<int64_t> r(static_cast<size_t>(n > 0 ? n : 0));
  for (int64_t i = 0; i < n; ++i) r[static_cast<size_t>(i)] = i;
  // at::mt19937 keeps the standard initialisation (init_genrand) of the seed's low 32 bits: std::mt19937's.
  // CPUGeneratorImpl::random() is one 32-bit output, for every n (P <= 46340 keeps N below 2^31).
  std::mt19937 engine(static_cast<uint32_t>(seed & 0xffffffffu));
  for (int64_t i = 0; i + 1 < n; ++i) {
    const int64_t z = static_cast<int64_t>(static_cast<uint64_t>(engine()) % static_cast<uint64_t>(n - i));
    std::swap(r[static_cast<size_t>(i)], r[static_cast<size_t>(i + z)]);
  }
  return r;
}

int64_t torch_split_train_count(int64_t n, double train_frac) {
  return static_cast<int64_t>(static_cast<double>(n) * train_frac);
}

}  // namespace bilmod
