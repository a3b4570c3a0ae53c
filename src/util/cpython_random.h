// CPython's `random.Random(seed)` for an int seed, bit for bit: MT19937 seeded by init_by_array over the 32-bit words
// of |seed| (Modules/_randommodule.c random_seed), getrandbits, and Lib/random.py's _randbelow and shuffle. For
// reproducing a draw a paper made in Python (the Clock and the Pizza's 100 triples, train/gradient_symmetricity.cc).
// std::mt19937's seed() is init_genrand, not init_by_array: it gives other numbers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace bilmod {

class CPythonRandom {
 public:
  // random.Random(seed): the key is |seed|'s 32-bit words, least significant first ([0] for 0; [42] for 42).
  explicit CPythonRandom(int64_t seed);
  // MT19937's next 32-bit output (genrand_uint32).
  uint32_t next_uint32();
  // getrandbits(k) for 0 <= k <= 64: for k <= 32 the top k bits of one word; above, words least significant first,
  // the last one's top (k mod 32) bits (random_getrandbits). Wider draws are not needed here.
  uint64_t getrandbits(int k);
  // _randbelow(n) for n >= 1: getrandbits(n.bit_length()) until below n.
  uint64_t randbelow(uint64_t n);
  // shuffle(x): for i = len - 1 down to 1, swap x[i] with x[randbelow(i + 1)].
  template <typename T>
  void shuffle(std::vector<T>* x) {
    for (std::size_t i = x->size(); i-- > 1;) {
      const std::size_t j = static_cast<std::size_t>(randbelow(static_cast<uint64_t>(i) + 1));
      std::swap((*x)[i], (*x)[j]);
    }
  }

 private:
  static constexpr int kN = 624;
  uint32_t mt_[kN];
  int index_ = kN;
};

}  // namespace bilmod
