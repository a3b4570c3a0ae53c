// The Fourier basis of Z_P (docs/MODELS.md "Analysis"): frequency k = 1..floor(P/2), w_k = 2 pi k / P, each with a
// cos and a sin wave (k = P/2 for even P has only the cos wave). A vector's energy at k is the squared norm of
// its projection on those waves; over k = 1..floor(P/2) the energies add up to the vector's energy after its
// mean is removed (Parseval), because every wave sums to zero over Z_P.
#pragma once
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "analysis/model_weights.h"

namespace bilmod {

int64_t frequency_count(int64_t mod_basis);  // floor(P/2)

// cos(w_k x) and sin(w_k x) for k = 1..K, x = 0..P-1: rows k-1.
struct FourierBasis {
  int64_t mod_basis = 0;
  RowMatrix cos_waves;  // (K, P)
  RowMatrix sin_waves;  // (K, P)
  explicit FourierBasis(int64_t P);
  // Energy of a length-P vector at every frequency: (K,), entry k-1 for frequency k.
  Eigen::VectorXd energies(const Eigen::Ref<const Eigen::VectorXd>& v) const;
  // Energies of every column of m (P, n), summed over the columns: (K,).
  Eigen::VectorXd column_energies(const Eigen::Ref<const RowMatrix>& m) const;
};

struct DominantFrequency {
  int64_t frequency = 0;  // the k with the largest energy (0 for a constant vector)
  double share = 0;       // its share of the energy after the mean is removed
  // For a 2P vector over [a; b]: the same frequency's share of each block's own (mean-removed) energy.
  double share_a = 0, share_b = 0;
};

// v of length P: its dominant frequency. v of length 2P (a factored eigenvector, blocks a and b): energies of
// both blocks (each with its own mean removed) added per frequency, and each block's share reported. Length 2P+1
// (an mlp quad eigenvector over [x; 1]): the same over its a and b blocks, the bias entry left out.
DominantFrequency dominant_frequency(const FourierBasis& basis, const Eigen::Ref<const Eigen::VectorXd>& v);

// The index of the largest entry, plus one (a frequency), and that entry's share of the sum.
DominantFrequency strongest_of(const Eigen::VectorXd& energies);

// Gini coefficient of non-negative values: 0 when all are equal, (n-1)/n when one holds everything.
double gini_coefficient(std::vector<double> values);

}  // namespace bilmod
