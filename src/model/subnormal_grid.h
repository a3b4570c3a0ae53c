// dL/dh of units whose output weights have decayed to almost nothing, without the microcode assists: below 2^-125 a
// chain of float multiply-adds is integer arithmetic in units of 2^-149, done exactly in double, and a chain that
// climbs out goes on with the float multiply-adds (docs/NUMERICS.md "Faded units' dL/dh on the 2^-149 grid").
// tests/unit/kernel_equivalence_test.cc checks it against the float chain bit for bit.
#pragma once
#include <cstdint>

namespace bilmod {

// dh (S,) = the float FMA chains over the classes of dlogits_row (P,) against weights (P, S), given also as doubles
// (converted once: converting a subnormal float costs an assist too).
void dhidden_on_grid(const float* dlogits_row, const float* weights, const double* weights_as_double, int64_t P,
                     int64_t S, float* dh);

}  // namespace bilmod
