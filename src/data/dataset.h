// The modular-arithmetic table and its train/validation split (docs/MODELS.md "Data").
// Inputs are pair indices a*P + b, never one-hot vectors.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/operation.h"
#include "util/status.h"

namespace bilmod {

struct Dataset {
  int64_t mod_basis = 0;  // P
  Operation operation = Operation::kAdd;
  std::vector<int32_t> label;          // (P*P,) c = op(a, b) for pair index a*P + b; -1 where op is undefined
  std::vector<int64_t> train_indices;  // (N_train,) pair indices, in split order
  std::vector<int64_t> val_indices;    // (N_val,) pair indices, in split order

  int64_t pair_a(int64_t pair) const { return pair / mod_basis; }
  int64_t pair_b(int64_t pair) const { return pair % mod_basis; }
};

// --split: bilmod's counter-based shuffle (make_dataset), or the upstream's torch.randperm (make_torch_split_dataset).
enum class SplitKind { kBilmod, kTorch };
std::optional<SplitKind> parse_split_kind(const std::string& name);
std::string split_kind_name(SplitKind kind);

// Every defined pair in a-major order (index a*P + b), labelled.
std::vector<int64_t> defined_pairs(int64_t mod_basis, Operation op);
std::vector<int32_t> label_table(int64_t mod_basis, Operation op);

// Permute the defined pairs with the data seed; the first floor(train_frac * N) are train, the rest validation.
Dataset make_dataset(int64_t mod_basis, Operation op, double train_frac, uint64_t data_seed);
// The split of the seed's code and its upstream: the defined pairs permuted by torch.randperm(N) under a generator
// seeded with `seed` (data/torch_randperm.h), the first int(N * train_frac) train.
Dataset make_torch_split_dataset(int64_t mod_basis, Operation op, double train_frac, uint64_t seed);
// A dataset whose split was saved in a checkpoint: checks every index is a defined pair, no pair twice.
Status dataset_from_split(int64_t mod_basis, Operation op, std::vector<int64_t> train_indices,
                          std::vector<int64_t> val_indices, Dataset* out);

// floor(train_frac * n), guarded against the product landing a hair below an integer.
int64_t train_count(int64_t n_pairs, double train_frac);

// The order in which epoch `epoch` (counting from 0) visits the train pairs: positions into train_indices,
// a permutation drawn from the counter-based stream keyed by (seed, epoch).
std::vector<int32_t> epoch_order(int64_t n_train, uint64_t seed, int64_t epoch);

}  // namespace bilmod
