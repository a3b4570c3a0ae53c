// The table, the split and the epoch order (docs/MODELS.md "Data").
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "data/dataset.h"
#include "data/operation.h"

namespace bilmod {
namespace {

TEST(Operation, EveryOperationFollowsItsFormula) {
  const int64_t p = 13;
  for (int64_t a = 0; a < p; ++a)
    for (int64_t b = 0; b < p; ++b) {
      EXPECT_EQ(apply_operation(Operation::kAdd, a, b, p), (a + b) % p);
      EXPECT_EQ(apply_operation(Operation::kSub, a, b, p), ((a - b) % p + p) % p);
      EXPECT_EQ(apply_operation(Operation::kMul, a, b, p), a * b % p);
      EXPECT_EQ(apply_operation(Operation::kSquareSum, a, b, p), (a * a + b * b) % p);
      EXPECT_EQ(apply_operation(Operation::kQuadratic, a, b, p), (a * a + a * b + b * b) % p);
      EXPECT_EQ(apply_operation(Operation::kQuadraticPlusX, a, b, p), (a * a + a * b + b * b + a) % p);
      EXPECT_EQ(apply_operation(Operation::kCubicXy, a, b, p), (a * a * a + a * b) % p);
      EXPECT_EQ(apply_operation(Operation::kCubicXy2PlusY, a, b, p), (a * a * a + a * b * b + b) % p);
      if (b != 0) {
        EXPECT_EQ(apply_operation(Operation::kDiv, a, b, p) * b % p, a) << a << " / " << b;
      }
    }
}

TEST(Operation, DivLeavesOutZeroDivisor) {
  const auto pairs = defined_pairs(7, Operation::kDiv);
  EXPECT_EQ(pairs.size(), 7u * 6u);
  for (int64_t pair : pairs) EXPECT_NE(pair % 7, 0);
}

TEST(Dataset, SplitIsAPartitionOfTheFloorSize) {
  const Dataset d = make_dataset(113, Operation::kAdd, 0.3, 0);
  EXPECT_EQ(d.train_indices.size(), 3830u);  // floor(0.3 * 12769), as docs/MODELS.md and the seed's data module
  EXPECT_EQ(d.train_indices.size() + d.val_indices.size(), 12769u);
  std::set<int64_t> all(d.train_indices.begin(), d.train_indices.end());
  all.insert(d.val_indices.begin(), d.val_indices.end());
  EXPECT_EQ(all.size(), 12769u);
  EXPECT_EQ(train_count(10, 0.7), 7);  // 0.7 * 10 is 6.9999999999999991 in binary
}

TEST(Dataset, DataSeedChangesTheSplit) {
  EXPECT_NE(make_dataset(31, Operation::kAdd, 0.5, 1).train_indices,
            make_dataset(31, Operation::kAdd, 0.5, 2).train_indices);
  EXPECT_EQ(make_dataset(31, Operation::kAdd, 0.5, 1).train_indices,
            make_dataset(31, Operation::kAdd, 0.5, 1).train_indices);
}

TEST(Dataset, EpochOrderIsAPermutationKeyedBySeedAndEpoch) {
  const auto e0 = epoch_order(500, 3, 0), e1 = epoch_order(500, 3, 1);
  std::vector<int32_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> identity(500);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(e1, epoch_order(500, 3, 1));  // no generator state: recomputable at any epoch
  EXPECT_NE(e0, epoch_order(500, 4, 0));
}

TEST(Dataset, SavedSplitIsValidated) {
  Dataset out;
  EXPECT_FALSE(dataset_from_split(5, Operation::kAdd, {0, 1, 1}, {2}, &out).is_ok());  // a pair twice
  EXPECT_FALSE(dataset_from_split(5, Operation::kAdd, {0, 25}, {2}, &out).is_ok());    // out of range
  EXPECT_FALSE(dataset_from_split(5, Operation::kDiv, {0}, {2}, &out).is_ok());        // b = 0 under div
  EXPECT_TRUE(dataset_from_split(5, Operation::kAdd, {0, 1}, {2}, &out).is_ok());
}

}  // namespace
}  // namespace bilmod
