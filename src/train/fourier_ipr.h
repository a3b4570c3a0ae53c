// How sparse in frequency the hidden units' input weights are (docs/MODELS.md "Measures"): the measure fourier_ipr
// (train/measure.h) and the Fourier helpers it is made of.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "model/model_spec.h"

namespace bilmod {

// Inverse participation ratio of one spectrum: sum_k e_k^2 / (sum_k e_k)^2; NaN when all e_k are zero.
double inverse_participation_ratio(const std::vector<double>& energy);

// The energy of a length-P real vector at each frequency k = 0..floor(P/2) of the real Fourier basis:
// |F_0|^2, 2|F_k|^2 for 0 < k < P/2, |F_{P/2}|^2 (even P), with F the DFT; they sum to P * sum x^2 (Parseval).
std::vector<double> frequency_energies(const std::vector<double>& x);

// Mean over hidden units of the IPR of each unit's input-weight spectrum over a and over b (the vectors L[u, 0..P),
// L[u, P..2P) and, for factored, R's likewise; units whose weights are all zero are left out). NaN where the model's
// units do not see a and b through such weights (bilinear).
double mean_input_fourier_ipr(const ModelSpec& spec, const ParameterLayout& layout, const float* params);

}  // namespace bilmod
