// Drawing interaction matrices and vectors over Z_P, shared by visualize-checkpoint's figures
// (analysis/checkpoint_figures.h) and analyze --hosvd's (analysis/hosvd_output.h).
#pragma once
#include <cstdint>
#include <string>

#include <Eigen/Dense>

#include "analysis/fourier.h"
#include "analysis/model_weights.h"
#include "plot/figure.h"

namespace bilmod {

// A matrix over (a, b), [e_a; e_b] or [e_a; e_b; 1] as a diverging heatmap, lines between the blocks. Matrices wider
// than kMaxHeatmapSide are drawn as block means (plot/heatmap_downsample.h); the axes then count blocks.
Heatmap heatmap_of(const RowMatrix& m, int64_t mod_basis);
// What a caption says of a downsampled heatmap of this side, or nothing when it is drawn cell for cell.
std::string downsampling_note(int64_t side);
// The axis labels of w's interaction matrices.
void label_matrix_axes(Panel* p, const ModelWeights& w);

// Vectors longer than this are drawn as their energy per frequency, not point by point.
constexpr int64_t kMaxEigenvectorPoints = 512;
std::string long_eigenvector_note(int64_t length, bool blocks);
// One vector of length P, 2P ([e_a; e_b], blocks) or 2P+1 (mlp quad's [x; 1]) as a panel: its components, or its
// energy at every frequency when it is longer than kMaxEigenvectorPoints.
Panel vector_panel(const std::string& title, const Eigen::Ref<const Eigen::VectorXd>& vec, const FourierBasis& basis,
                   bool blocks);

}  // namespace bilmod
