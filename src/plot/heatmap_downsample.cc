#include "plot/heatmap_downsample.h"

#include <algorithm>
#include <vector>

namespace bilmod {

int64_t heatmap_block(int64_t side) { return std::max<int64_t>(1, (side + kMaxHeatmapSide - 1) / kMaxHeatmapSide); }

Heatmap block_mean_heatmap(const double* values, int64_t rows, int64_t cols, int64_t block) {
  Heatmap h;
  h.rows = (rows + block - 1) / block;
  h.cols = (cols + block - 1) / block;
  if (block <= 1) {
    h.values.assign(values, values + rows * cols);
    return h;
  }
  h.values.assign(static_cast<size_t>(h.rows * h.cols), 0.0);
  std::vector<int64_t> count(h.values.size(), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t cell = static_cast<size_t>((r / block) * h.cols + c / block);
      h.values[cell] += values[r * cols + c];
      ++count[cell];
    }
  for (size_t i = 0; i < h.values.size(); ++i) h.values[i] /= static_cast<double>(count[i]);
  return h;
}

}  // namespace bilmod
