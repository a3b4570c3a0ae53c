// The two figures "The Clock and the Pizza" (Zhong et al. 2023) reads a model by: the correct class's logit laid out
// by (a + b, a - b), and the token embedding's principal components. docs/MODELS.md "Measures".
#pragma once
#include <string>
#include <vector>

#include "config/training_state.h"
#include "plot/figure.h"

namespace bilmod {

// correct_logit_table: for (a + b) mod P over every pair, the correct logit at row (a + b) mod P, column (a - b) mod P
// (a pizza's varies along the columns, a clock's does not: distance irrelevance); token_embedding_pcs: W_E's tokens
// on its principal components 1-2 and 3-4 (a clock's lie on circles), for a model with a token embedding. A figure
// whose model or data lacks what it reads is left out, with a note saying why.
std::vector<Figure> clock_pizza_figures(const TrainingState& state, const std::string& where,
                                        std::vector<std::string>* notes);

}  // namespace bilmod
