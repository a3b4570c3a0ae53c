// dL/dh of units whose output weights have decayed to almost nothing, without the microcode assists.
//
// Late in a run weight decay leaves the units a model no longer uses with output weights of 1e-30 and less (a grokked
// factored model), and dh[k] = fma(d[P-1], W[P-1][k], ... fma(d[0], W[0][k], +0)), the kernels' order, then runs
// through the subnormal range: every such FMA costs this core a microcode assist (four fifths of a late epoch).
// Below 2^-125 floats are the integer multiples of u = 2^-149 (subnormals and the lowest normal binade alike), so
// while a partial sum stays below 2^-125 the chain is integer arithmetic in units of u: with acc = A u,
// fma(d, w, acc) = RNE(A + y) u, y = d w / u, the nearest integer, ties to even. That runs in double, where nothing
// is subnormal and every step is exact:
//   y = (d / u) w                   exact (24 x 24 bits; d / u is d scaled by a power of two)
//   f = floor(y), r = y - f         exact (r in [0, 1))
//   A' = A + f (+1 where r > 1/2, or r = 1/2 and A + f is odd)      exact integers below 2^25
// and where the result is zero its sign is the sign of A + y rounded in double, which is the float rule (the sign of
// the exact sum, or IEEE's rule for a sum of zeros). A step whose exact sum might reach 2^24 u (|A| + |y| >= 2^24 - 2)
// leaves the grid: that element's chain goes on in float from A u (exact), the reference's own multiply-adds, which
// are fast again up there. tests/unit/kernel_equivalence_test.cc checks it against the float chain bit for bit.
#pragma once
#include <cstdint>

namespace bilmod {

// dh (S,) = the float FMA chains over the classes of dlogits_row (P,) against weights (P, S), given also as doubles
// (converted once: converting a subnormal float costs an assist too).
void dhidden_on_grid(const float* dlogits_row, const float* weights, const double* weights_as_double, int64_t P,
                     int64_t S, float* dh);

}  // namespace bilmod
