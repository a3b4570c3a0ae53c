// The figures of `bilmod visualize-checkpoint` (issue 4), built from the analysis and drawn with plot/:
//   interaction_matrices_grid   W_k (bilinear) or Q_k (factored) of the first --num-matrices units
//   eigenvalue_spectrum         every unit's eigenvalues
//   eigenvectors_unit_{k}       the top --num-eigenvectors eigenvectors of units 0, 1, 2
//   class_interaction_matrices  M_c or Q(c) of the chosen classes; class_eigenvectors_{c} their top eigenvectors
//   singular_vectors_output_{c} the upstream's figure: M_c's or Q(c)'s top left and right singular vectors
//   logit_fourier_spectrum      each frequency's share of the logits' variance, key frequencies marked
//   input_weight_fourier        the input weights' per-frequency norms (with their Gini coefficient)
//   training_curves             loss and accuracy against epoch, when the run's tracking store is found
// and index.html with a caption for each and a note for what does not exist for the model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/analysis_input.h"
#include "plot/figure.h"

namespace bilmod {

constexpr int64_t kMaxClassPanels = 16;  // a grid of more heatmaps is unreadable

struct CheckpointFigureOptions {
  int64_t num_matrices = 9;
  int64_t num_eigenvectors = 5;
  std::vector<int64_t> output_classes;  // empty: 0, 1, P-1
};

// The figures, not yet drawn (tests inspect them); `notes` receives what is left out and why.
std::vector<Figure> checkpoint_figures(const AnalysisInput& input, const CheckpointFigureOptions& options,
                                       std::vector<std::string>* notes, std::vector<std::string>* summary);

// Draws every figure into dir and writes dir/index.html.
Status draw_checkpoint_figures(const AnalysisInput& input, const CheckpointFigureOptions& options,
                               const std::string& dir, std::vector<RenderedFigure>* figures, std::string* index_path);

}  // namespace bilmod
