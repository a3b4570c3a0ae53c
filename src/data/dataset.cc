#include "data/dataset.h"

#include "data/torch_randperm.h"

#include <cmath>
#include <numeric>
#include <string>

#include "util/rng.h"

namespace bilmod {

std::optional<SplitKind> parse_split_kind(const std::string& name) {
  if (name == "bilmod") return SplitKind::kBilmod;
  if (name == "torch") return SplitKind::kTorch;
  return std::nullopt;
}

std::string split_kind_name(SplitKind kind) { return kind == SplitKind::kBilmod ? "bilmod" : "torch"; }

std::vector<int64_t> defined_pairs(int64_t p, Operation op) {
  std::vector<int64_t> pairs;
  pairs.reserve(static_cast<size_t>(p * p));
  for (int64_t a = 0; a < p; ++a)
    for (int64_t b = 0; b < p; ++b)
      if (operation_defined(op, b)) pairs.push_back(a * p + b);
  return pairs;
}

std::vector<int32_t> label_table(int64_t p, Operation op) {
  std::vector<int32_t> label(static_cast<size_t>(p * p), -1);
  for (int64_t a = 0; a < p; ++a)
    for (int64_t b = 0; b < p; ++b)
      if (operation_defined(op, b)) label[a * p + b] = static_cast<int32_t>(apply_operation(op, a, b, p));
  return label;
}

int64_t train_count(int64_t n_pairs, double train_frac) {
  // Python's int(0.3 * 12769) is 3830; a product like 0.7 * 10 = 6.9999999 must still give 7, so round
  // to 1e-9 before the floor (as exact decimal arithmetic would).
  const double product = train_frac * static_cast<double>(n_pairs);
  const double nearest = std::round(product);
  if (std::fabs(product - nearest) < 1e-9 * std::max(1.0, nearest)) return static_cast<int64_t>(nearest);
  return static_cast<int64_t>(std::floor(product));
}

Dataset make_dataset(int64_t p, Operation op, double train_frac, uint64_t data_seed) {
  Dataset data;
  data.mod_basis = p;
  data.operation = op;
  data.label = label_table(p, op);
  std::vector<int64_t> pairs = defined_pairs(p, op);
  shuffle_in_place(pairs, stream_key(data_seed, kSplitStream, 0));
  const int64_t n_train = train_count(static_cast<int64_t>(pairs.size()), train_frac);
  data.train_indices.assign(pairs.begin(), pairs.begin() + n_train);
  data.val_indices.assign(pairs.begin() + n_train, pairs.end());
  return data;
}

Dataset make_torch_split_dataset(int64_t p, Operation op, double train_frac, uint64_t seed) {
  Dataset data;
  data.mod_basis = p;
  data.operation = op;
  data.label = label_table(p, op);
  const std::vector<int64_t> pairs = defined_pairs(p, op);
  const std::vector<int64_t> order = torch_randperm(static_cast<int64_t>(pairs.size()), seed);
  const int64_t n_train = torch_split_train_count(static_cast<int64_t>(pairs.size()), train_frac);
  for (int64_t i = 0; i < static_cast<int64_t>(order.size()); ++i)
    (i < n_train ? data.train_indices : data.val_indices)
        .push_back(pairs[static_cast<size_t>(order[static_cast<size_t>(i)])]);
  return data;
}

Status dataset_from_split(int64_t p, Operation op, std::vector<int64_t> train_indices, std::vector<int64_t> val_indices,
                          Dataset* out) {
  Dataset data;
  data.mod_basis = p;
  data.operation = op;
  data.label = label_table(p, op);
  std::vector<uint8_t> seen(static_cast<size_t>(p * p), 0);
  for (const auto* part : {&train_indices, &val_indices}) {
    for (int64_t pair : *part) {
      if (pair < 0 || pair >= p * p || data.label[pair] < 0)
        return Status::runtime("split holds pair index " + std::to_string(pair) + ", which is not a pair of the " +
                               operation_name(op) + " table for P = " + std::to_string(p));
      if (seen[pair]++) return Status::runtime("split holds pair index " + std::to_string(pair) + " twice");
    }
  }
  data.train_indices = std::move(train_indices);
  data.val_indices = std::move(val_indices);
  *out = std::move(data);
  return Status::ok();
}

std::vector<int32_t> epoch_order(int64_t n_train, uint64_t seed, int64_t epoch) {
  std::vector<int32_t> order(static_cast<size_t>(n_train));
  std::iota(order.begin(), order.end(), 0);
  shuffle_in_place(order, stream_key(seed, kEpochOrderStream, static_cast<uint64_t>(epoch)));
  return order;
}

}  // namespace bilmod
