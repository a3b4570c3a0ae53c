#include "analysis/fourier.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace bilmod {

int64_t frequency_count(int64_t mod_basis) { return mod_basis / 2; }

FourierBasis::FourierBasis(int64_t P) : mod_basis(P) {
  const int64_t K = frequency_count(P);
  cos_waves.resize(K, P);
  sin_waves.resize(K, P);
  for (int64_t k = 1; k <= K; ++k)
    for (int64_t x = 0; x < P; ++x) {
      // (k x) mod P keeps the argument small, so the waves are exact to rounding for any P.
      const double angle = 2.0 * std::numbers::pi * static_cast<double>((k * x) % P) / static_cast<double>(P);
      cos_waves(k - 1, x) = std::cos(angle);
      sin_waves(k - 1, x) = std::sin(angle);
    }
}

Eigen::VectorXd FourierBasis::column_energies(const Eigen::Ref<const RowMatrix>& m) const {
  const int64_t K = frequency_count(mod_basis);
  // Projections on the waves; a wave of squared norm P/2 (P for the cos wave at k = P/2) turns a
  // coefficient c into energy c^2 / (P/2).
  const RowMatrix c = cos_waves * m, s = sin_waves * m;  // (K, n)
  Eigen::VectorXd e(K);
  for (int64_t k = 1; k <= K; ++k) {
    const bool nyquist = 2 * k == mod_basis;
    const double wave_norm2 = nyquist ? static_cast<double>(mod_basis) : 0.5 * static_cast<double>(mod_basis);
    e[k - 1] = (c.row(k - 1).squaredNorm() + (nyquist ? 0.0 : s.row(k - 1).squaredNorm())) / wave_norm2;
  }
  return e;
}

Eigen::VectorXd FourierBasis::energies(const Eigen::Ref<const Eigen::VectorXd>& v) const {
  return column_energies(Eigen::Map<const RowMatrix>(v.data(), v.size(), 1));
}

DominantFrequency strongest_of(const Eigen::VectorXd& energies) {
  DominantFrequency d;
  const double total = energies.sum();
  if (energies.size() == 0 || total <= 0) return d;
  Eigen::Index best = 0;
  energies.maxCoeff(&best);
  d.frequency = best + 1;
  d.share = energies[best] / total;
  return d;
}

DominantFrequency dominant_frequency(const FourierBasis& basis, const Eigen::Ref<const Eigen::VectorXd>& v) {
  const int64_t P = basis.mod_basis;
  if (v.size() == P) return strongest_of(basis.energies(v));
  const Eigen::VectorXd ea = basis.energies(v.head(P)), eb = basis.energies(v.segment(P, P));
  DominantFrequency d = strongest_of(ea + eb);
  if (d.frequency > 0) {
    const double ta = ea.sum(), tb = eb.sum();
    d.share_a = ta > 0 ? ea[d.frequency - 1] / ta : 0;
    d.share_b = tb > 0 ? eb[d.frequency - 1] / tb : 0;
  }
  return d;
}

double gini_coefficient(std::vector<double> values) {
  const size_t n = values.size();
  double total = 0;
  for (double x : values) total += x;
  if (n == 0 || total <= 0) return 0;
  std::sort(values.begin(), values.end());
  // G = sum_i (2i - n - 1) x_(i) / (n sum x), i = 1..n over the sorted values.
  double weighted = 0;
  for (size_t i = 0; i < n; ++i)
    weighted += (2.0 * static_cast<double>(i + 1) - static_cast<double>(n) - 1.0) * values[i];
  return weighted / (static_cast<double>(n) * total);
}

}  // namespace bilmod
