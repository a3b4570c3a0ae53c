// What several unit tests set up the same way: the thread count, and a fixture that runs a test once per subnormal
// detour policy (util/subnormal_watch.h), restoring the measured policy after.
#pragma once
#include <gtest/gtest.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "util/subnormal_watch.h"

namespace bilmod {

inline void set_threads(int t) {
#ifdef _OPENMP
  omp_set_num_threads(t);
#else
  (void)t;
#endif
}

class EachDetourPolicy : public ::testing::TestWithParam<DetourPolicy> {
 protected:
  void SetUp() override { set_detour_policy(GetParam()); }
  void TearDown() override { set_detour_policy(DetourPolicy::kMeasure); }
};

}  // namespace bilmod
