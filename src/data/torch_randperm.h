// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU, bit for bit (PyTorch 1.13's
// randperm_cpu): the split the seed's code and its upstream draw, so a run they began can be continued here.
#pragma once
#include <cstdint>
#include <vector>

namespace bilmod {

// A CPU generator after manual_seed(seed) is mt19937 seeded with the seed's low 32 bits; position i = 0..n-2
// swaps with i + (one 32-bit draw mod (n - i)), for every n (checked against torch up to n = 214 748 364).
std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed);

// Python's int(n * train_frac): the number of train pairs the upstream's split keeps (its first ones).
int64_t torch_split_train_count(int64_t n, double train_frac);

}  // namespace bilmod
