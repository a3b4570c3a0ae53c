// Heatmaps of matrices larger than a picture has pixels for (a factored model's 2P x 2P interaction matrices
// at P in the thousands): drawn as means of f x f blocks, so the figure and its data file stay a readable size.
// The data file holds exactly the block means drawn; the caption says the factor.
#pragma once
#include <cstdint>

#include "plot/figure.h"

namespace bilmod {

// A heatmap side beyond this is drawn downsampled (a 1300-pixel-wide grid of three panels has ~400 per panel).
constexpr int64_t kMaxHeatmapSide = 512;

// The block size that brings `side` to at most kMaxHeatmapSide: ceil(side / kMaxHeatmapSide), 1 when it fits.
int64_t heatmap_block(int64_t side);

// values (rows, cols) row-major as a heatmap of block means of block x block cells (the last blocks of a row or
// column may be smaller: their mean is over the cells they hold). block 1 copies the values.
Heatmap block_mean_heatmap(const double* values, int64_t rows, int64_t cols, int64_t block);

}  // namespace bilmod
