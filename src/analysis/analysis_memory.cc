#include "analysis/analysis_memory.h"

#include <algorithm>
#include <filesystem>

#include "analysis/hosvd.h"
#include "analysis/hosvd_output.h"
#include "analysis/interaction_matrices.h"
#include "checkpoint/checkpoint.h"
#include "model/logit_blocks.h"
#include "plot/heatmap_downsample.h"
#include "train/memory_estimate.h"

namespace bilmod {

MemoryEstimate analysis_memory(const AnalysisShape& a, const std::string& command) {
  const ModelSpec& spec = a.spec;
  const int64_t P = spec.mod_basis, H = spec.hidden_dim, n = parameter_count(spec);
  const bool transformer = spec.kind == ModelKind::kTransformer;
  const bool matrices = has_interaction_matrices(spec);  // not the transformer's nor mlp relu's
  const bool quad = is_quadratic_mlp(spec);
  // An interaction matrix's side: 2P over [e_a; e_b], 2P + 1 over mlp quad's [x; 1].
  const int64_t side = spec.kind == ModelKind::kFactored ? 2 * P : quad ? 2 * P + 1 : P;
  int64_t bytes = kProcessBaseBytes + a.checkpoints * a.state_bytes;
  bytes += n * 8;                                                    // the weights in double (analysis/model_weights.h)
  if (a.hosvd_top_k > 0) {
    // analyze --hosvd computes nothing else: the H x H Gram matrix and the top-k rows of Vh (n^2 each), never the
    // (H, n^2) flattened tensor unless it is smaller than its Gram; its figure's heatmaps.
    const int64_t side = spec.kind == ModelKind::kFactored ? 2 * P : is_quadratic_mlp(spec) ? 2 * P + 1 : P;
    const int64_t drawn = std::min(side, kMaxHeatmapSide);
    MemoryEstimate e;
    e.bytes = bytes + flattened_svd_bytes(spec, a.hosvd_top_k) + (kHosvdComponentPanels + 1) * drawn * drawn * (8 + 24);
    e.what = command + " --hosvd: " + model_kind_name(spec.kind) + ", P = " + std::to_string(P) + ", H = " +
             std::to_string(H) + ", top " + std::to_string(a.hosvd_top_k) + " rows of Vh of " + std::to_string(side * side);
    e.remedy = "a smaller --top-k; the checkpoint's P and H set the rest";
    return e;
  }
  bytes += P * P * (8 + 4 + 8 + 1) + a.threads * 256 * activation_bytes_per_pair(spec);  // accuracy (train/evaluate.h)
  // Logit sums, wave tables, key components and pair lists: (P, P) doubles, 20 as calibrated to cover the measured
  // peak at P = 997; one block of logits per thread, and the P-column copy of a block where the model has more
  // logits (the transformer's '=').
  bytes += 20 * P * P * 8 + a.threads * kLogitBlock * activation_bytes_per_pair(spec);
  if (spec.num_logits() != P) bytes += kLogitBlock * P * 4;
  // The transformer's analysis: its MLP activations and attention pattern on every pair (analysis/transformer_analysis.h).
  if (transformer) bytes += P * P * (spec.d_mlp + 3 * spec.num_heads) * 4;
  if (matrices) {
    const int64_t solving = std::max<int64_t>(1, std::min(a.threads, std::max<int64_t>(a.classes, spec.kind == ModelKind::kBilinear ? H : 1)));
    const int64_t rank = quad ? H : 2 * H;  // of B in ClassSpectra's low-rank path
    if ((spec.kind == ModelKind::kFactored || quad) && side > kLowRankSide && rank < side) {
      // ClassSpectra's low-rank path: B, its Q (side x rank) and each thread's eigenvectors mapped back; a figure's
      // Q(c) (and its symmetric part) one at a time.
      bytes += (2 + solving) * side * rank * 8 + solving * 8 * rank * rank * 8;
      if (a.heatmaps > 0) bytes += 3 * side * side * 8;
    } else {
      // Per solving thread: the matrix, its symmetric part, the solver's copy and eigenvectors, the sorted copy, workspace.
      bytes += solving * 8 * side * side * 8;
    }
  }
  const int64_t drawn = std::min(side, kMaxHeatmapSide);
  bytes += a.heatmaps * drawn * drawn * (8 + 24);  // values, and their text in the data file being written
  MemoryEstimate e;
  e.bytes = bytes;
  e.what = command + ": " + model_kind_name(spec.kind) + ", P = " + std::to_string(P) +
           (transformer ? ", d_model = " + std::to_string(spec.d_model) + ", d_mlp = " + std::to_string(spec.d_mlp)
                        : ", H = " + std::to_string(H)) +
           (matrices ? ", " + std::to_string(side) + " x " + std::to_string(side) + " interaction matrices on " +
                           std::to_string(a.threads) + " threads"
                     : std::string());
  e.remedy = std::string(a.heatmaps > 0 ? "fewer --output-classes or --num-matrices; " : "") +
             "the checkpoint's P and H set the rest (train a smaller --hidden-dim); OMP_NUM_THREADS=1 solves one "
             "matrix at a time";
  return e;
}

Status check_memory_before_loading(const std::string& command, const std::string& file_or_dir,
                                   const std::function<AnalysisShape(const ModelSpec&)>& shape_of,
                                   const MemoryBudget& budget, bool* analysis_checked) {
  *analysis_checked = false;
  std::string path;
  std::error_code ec;
  if (!resolve_checkpoint_path(file_or_dir, &path)) return Status::ok();  // the loader reports a bad path itself
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::ok();
  MemoryEstimate need = checkpoint_reading_memory(command, path, static_cast<int64_t>(size));
  ModelSpec spec;
  if (peek_checkpoint_spec(path, &spec)) {
    AnalysisShape shape = shape_of(spec);
    shape.state_bytes = static_cast<int64_t>(size);
    const MemoryEstimate analysis = analysis_memory(shape, command);
    if (analysis.bytes >= need.bytes) need = analysis;
    *analysis_checked = true;
  }
  return check_memory(need, budget);
}

}  // namespace bilmod
