// CPythonRandom against CPython 3.11's own random.Random: the expected numbers below were printed by /usr/bin/python3,
// e.g. `r = random.Random(42); [r.getrandbits(32) for _ in range(5)]`, and the shuffle's by
// `xs = [(a, b, c) for a in range(13) for b in range(13) for c in range(13)]; random.Random(42).shuffle(xs)` (each
// triple as its index (a * 13 + b) * 13 + c). tests/parity/test_clock_pizza_measures.py checks the 100 triples of the
// gradient symmetricity against Python's shuffle at run time too.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "util/cpython_random.h"

namespace bilmod {
namespace {

TEST(CPythonRandom, SeededFromAnIntAsCPythonDoes) {
  CPythonRandom r(42);
  const std::vector<uint64_t> want = {2746317213u, 478163327u, 107420369u, 3184935163u, 1181241943u};
  for (const uint64_t w : want) EXPECT_EQ(r.getrandbits(32), w);
  CPythonRandom zero(0);  // key [0]
  for (const uint64_t w : {3626764237u, 1654615998u, 3255389356u}) EXPECT_EQ(zero.getrandbits(32), w);
  CPythonRandom wide(-((int64_t{1} << 40) + 5));  // |seed| over two words: key [5, 256]
  for (const uint64_t w : {2166296868u, 2220160828u, 1153647273u}) EXPECT_EQ(wide.getrandbits(32), w);
}

TEST(CPythonRandom, GetrandbitsOfEveryWidth) {
  CPythonRandom r(42);
  for (const uint64_t w : {123005401501ull, 811856239313ull, 267469214295ull}) EXPECT_EQ(r.getrandbits(40), w);
  for (const uint64_t w : {2574020394472462046ull, 1890702223848595625ull}) EXPECT_EQ(r.getrandbits(64), w);
  for (const uint64_t w : {86u, 94u, 114u}) EXPECT_EQ(r.getrandbits(7), w);
}

TEST(CPythonRandom, ShuffleAsCPython3) {
  std::vector<int> small(10);
  std::iota(small.begin(), small.end(), 0);
  CPythonRandom(7).shuffle(&small);
  EXPECT_EQ(small, (std::vector<int>{8, 3, 1, 4, 7, 0, 9, 6, 2, 5}));
  const int64_t P = 13;
  std::vector<uint32_t> triples(static_cast<size_t>(P * P * P));
  std::iota(triples.begin(), triples.end(), 0u);
  CPythonRandom(42).shuffle(&triples);
  const std::vector<uint32_t> first = {586, 23, 1926, 32, 641, 1147, 1565, 1350, 1, 2037, 1778, 1032};
  EXPECT_EQ(std::vector<uint32_t>(triples.begin(), triples.begin() + 12), first);
}

}  // namespace
}  // namespace bilmod
