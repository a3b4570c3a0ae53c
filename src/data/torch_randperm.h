// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU, bit for bit (PyTorch 1.13's
// randperm_cpu): the split the seed's code and its upstream draw, so a run they began can be continued here.
#pragma once
#include <cstdint>
#include <vector>

namespace bilmod {

// A CPU generator after manual_seed(seed) is mt19937 seeded with the seed's low 32 bits. For n below
// 2^32 / 20, swap position i with i + (one 32-bit draw mod (n - i)) for i = 0..n-2; from there on the
// "inside-out" shuffle with 64-bit draws (two 32-bit ones, the first the high half) mod (i + 1).
std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed);

// Python's int(n * train_frac): the number of train pairs the upstream's split keeps (its first ones).
int64_t torch_split_train_count(int64_t n, double train_frac);

}  // namespace bilmod
