#include "analysis/input_weight_fourier.h"

#include <cmath>

#include "analysis/fourier.h"

namespace bilmod {

std::vector<double> input_frequency_norms(const ModelWeights& w) {
  const int64_t P = w.mod_basis();
  const FourierBasis basis(P);
  Eigen::VectorXd energy = Eigen::VectorXd::Zero(frequency_count(P));
  if (w.token_embedding.size() > 0) {
    energy += basis.column_energies(w.token_embedding.transpose());  // one P-vector per residual direction
  } else if (!w.unit_weight.empty()) {
    for (const RowMatrix& unit : w.unit_weight) {
      energy += basis.column_energies(unit);              // along a, one column per b
      energy += basis.column_energies(unit.transpose());  // along b, one column per a
    }
  } else {
    for (const RowMatrix* m : {&w.left, &w.right}) {
      if (m->size() == 0) continue;                                  // mlp has no right matrix
      energy += basis.column_energies(m->leftCols(P).transpose());   // (P, H): the a block, one column per unit
      energy += basis.column_energies(m->rightCols(P).transpose());  // the b block
    }
  }
  std::vector<double> norms(static_cast<size_t>(energy.size()));
  for (Eigen::Index k = 0; k < energy.size(); ++k) norms[static_cast<size_t>(k)] = std::sqrt(energy[k]);
  return norms;
}

}  // namespace bilmod
