#include "analysis/matrix_figures.h"

#include <algorithm>

#include "analysis/interaction_matrices.h"
#include "plot/heatmap_downsample.h"

namespace bilmod {

Heatmap heatmap_of(const RowMatrix& m, int64_t mod_basis) {
  const int64_t block = heatmap_block(std::max(m.rows(), m.cols()));
  Heatmap h = block_mean_heatmap(m.data(), m.rows(), m.cols(), block);
  h.diverging = true;
  if (m.rows() == 2 * mod_basis || m.rows() == 2 * mod_basis + 1)  // between the a and b blocks
    h.separators = {static_cast<double>(mod_basis) / static_cast<double>(block) - 0.5};
  if (m.rows() == 2 * mod_basis + 1)  // before mlp quad's bias row and column
    h.separators.push_back(static_cast<double>(2 * mod_basis) / static_cast<double>(block) - 0.5);
  return h;
}

std::string downsampling_note(int64_t side) {
  const int64_t block = heatmap_block(side);
  if (block == 1) return "";
  return " Drawn downsampled: each pixel of the " + std::to_string(side) + " x " + std::to_string(side) +
         " matrix is the mean of a " + std::to_string(block) + " x " + std::to_string(block) +
         " block (the .dat file holds exactly these block means; the full matrices follow from the checkpoint's "
         "weights).";
}

std::string long_eigenvector_note(int64_t length, bool blocks) {
  if (length <= kMaxEigenvectorPoints) return "";
  return " With " + std::to_string(length) +
         " components a vector drawn point by point is unreadable, so each panel shows "
         "its energy at every frequency k (the squared projection on cos/sin(2 pi k x / P)" +
         std::string(blocks ? ", for the a and b blocks separately" : "") +
         "): a wave is a spike at its frequency. The .dat file holds these energies exactly.";
}

void label_matrix_axes(Panel* p, const ModelWeights& w) {
  const int64_t block = heatmap_block(interaction_matrix_size(w));
  const std::string unit = block == 1 ? "" : " (blocks of " + std::to_string(block) + ")";
  p->x.label = w.form->x_axis() + unit;
  p->y.label = w.form->y_axis() + unit;
}

Panel vector_panel(const std::string& title, const Eigen::Ref<const Eigen::VectorXd>& vec, const FourierBasis& basis,
                   bool blocks) {
  const int64_t P = basis.mod_basis;
  Panel p;
  p.title = title;
  p.legend = false;
  if (vec.size() > kMaxEigenvectorPoints) {
    // Thousands of points of a wave fill the panel solid: draw its energy at each frequency instead (per block
    // for a factored eigenvector), which shows the same wave as a few spikes.
    p.x.label = "frequency k";
    p.y.label = "energy at k";
    p.legend = blocks;
    const Eigen::VectorXd ea = basis.energies(vec.head(P));
    Series sa;
    sa.style = SeriesStyle::kStems;
    sa.label = blocks ? "a block" : "";
    for (Eigen::Index k = 0; k < ea.size(); ++k) sa.x.push_back(static_cast<double>(k + 1)), sa.y.push_back(ea[k]);
    p.series.push_back(sa);
    if (blocks) {
      const Eigen::VectorXd eb = basis.energies(vec.segment(P, P));  // mlp quad's bias entry left out
      Series sb;
      sb.style = SeriesStyle::kStems;
      sb.label = "b block";
      for (Eigen::Index k = 0; k < eb.size(); ++k) sb.x.push_back(static_cast<double>(k + 1)), sb.y.push_back(eb[k]);
      p.series.push_back(sb);
    }
    p.x.min = 0, p.x.max = static_cast<double>(ea.size()) + 1;
    return p;
  }
  const bool bias = vec.size() == 2 * P + 1;  // mlp quad: [x; 1]
  p.x.label = bias ? "position in [x; 1] = [e_a; e_b; 1]" : blocks ? "position in x = [e_a; e_b]" : "input value";
  p.y.label = "component";
  Series v;
  v.style = SeriesStyle::kLinesPoints;
  v.line_width = 1.5;
  for (Eigen::Index j = 0; j < vec.size(); ++j) {
    v.x.push_back(static_cast<double>(j));
    v.y.push_back(vec[j]);
  }
  p.series.push_back(v);
  if (blocks) p.markers.push_back({static_cast<double>(P) - 0.5, "b"});
  if (bias) p.markers.push_back({static_cast<double>(2 * P) - 0.5, "bias"});
  p.x.min = 0, p.x.max = static_cast<double>(vec.size() - 1);
  return p;
}

}  // namespace bilmod
