// The subnormal detours' switch (util/subnormal_watch.h): the path it allows is the one measured faster, unless a
// policy forces one. (That both paths give the same bits is tested where they are: kernel_equivalence_test.cc,
// optimizer_paths_test.cc.)
#include <gtest/gtest.h>

#include "util/subnormal_watch.h"

namespace bilmod {
namespace {

int calls = 0;
double detour_slower(bool detour) { return ++calls, detour ? 2e-6 : 1e-6; }
double detour_faster(bool detour) { return ++calls, detour ? 1e-6 : 3e-6; }

TEST(SubnormalWatch, AllowsTheDetourOnlyWhereItMeasuresFaster) {
  set_detour_policy(DetourPolicy::kMeasure);
  SubnormalWatch slow(kMxcsrDenormalOperand, detour_slower), fast(kMxcsrDenormalOperand, detour_faster);
  calls = 0;
  EXPECT_FALSE(slow.detour_pays());
  EXPECT_GT(calls, 2);  // both paths timed, more than once
  const int after_first = calls;
  EXPECT_FALSE(slow.detour_pays());
  EXPECT_EQ(calls, after_first);  // measured once per process
  EXPECT_EQ(slow.timing().plain, 1e-6);
  EXPECT_EQ(slow.timing().detour, 2e-6);
  EXPECT_TRUE(fast.detour_pays());
  // Watching follows the flags only where the detour pays.
  slow.update(false, true);
  fast.update(false, true);
  EXPECT_FALSE(slow.watching());
  EXPECT_TRUE(fast.watching());
  fast.update(true, false);
  EXPECT_FALSE(fast.watching());
}

TEST(SubnormalWatch, PoliciesForceEitherPath) {
  SubnormalWatch slow(kMxcsrDenormalOperand, detour_slower), fast(kMxcsrDenormalOperand, detour_faster);
  set_detour_policy(DetourPolicy::kAlways);
  EXPECT_TRUE(slow.detour_pays());
  set_detour_policy(DetourPolicy::kNever);
  EXPECT_FALSE(fast.detour_pays());
  set_detour_policy(DetourPolicy::kMeasure);
  EXPECT_FALSE(slow.detour_pays());
  EXPECT_TRUE(fast.detour_pays());
}

}  // namespace
}  // namespace bilmod
