#include "analysis/analysis_memory.h"

#include <algorithm>
#include <filesystem>

#include "analysis/hosvd.h"
#include "analysis/hosvd_output.h"
#include "analysis/interaction_matrices.h"
#include "checkpoint/checkpoint.h"
#include "model/model.h"
#include "model/logit_blocks.h"
#include "plot/heatmap_downsample.h"
#include "train/memory_estimate.h"

namespace bilmod {

MemoryEstimate analysis_memory(const AnalysisShape& a, const std::string& command) {
  const ModelSpec& spec = a.spec;
  const int64_t P = spec.mod_basis, H = spec.hidden_dim, n = parameter_count(spec), P2 = P * P;
  const bool transformer = model_of(spec).has_attention();
  const InteractionForm* form = interaction_form(spec);  // not the transformer's nor mlp relu's
  // An interaction matrix's side: P over (a, b), 2P over [e_a; e_b], 2P + 1 over mlp quad's [x; 1].
  const int64_t side = form ? form->side(P) : P;
  const int64_t act = activation_bytes_per_pair(spec);
  int64_t largest_parameter = 0;
  for (const ParameterInfo& info : make_parameter_layout(spec).parameters)
    largest_parameter = std::max(largest_parameter, static_cast<int64_t>(info.size));

  if (a.hosvd_top_k > 0) {
    // analyze --hosvd computes nothing else: the state, the weights in double (and the largest being widened), the
    // H x H Gram matrix and the top-k rows of Vh (n^2 each), never the (H, n^2) flattened tensor unless it is
    // smaller than its Gram (analysis/hosvd.h); its figure's heatmaps.
    const int64_t drawn = std::min(side, kMaxHeatmapSide);
    MemoryEstimate e;
    e.bytes = kProcessBaseBytes + a.state_bytes + n * 8 + largest_parameter * (4 + 8 + 8) +
              flattened_svd_bytes(spec, a.hosvd_top_k) + (kHosvdComponentPanels + 1) * drawn * drawn * (8 + 24);
    e.what = command + " --hosvd: " + model_kind_name(spec.kind) + ", P = " + std::to_string(P) +
             ", H = " + std::to_string(H) + ", top " + std::to_string(a.hosvd_top_k) + " rows of Vh of " +
             std::to_string(side * side);
    e.remedy = "a smaller --top-k; the checkpoint's P and H set the rest";
    return e;
  }

  // Held from the start of the analysis to its end (analysis/report.cc, progress_measures.cc): the loaded state (its
  // file's size, and the split's label table), the weights in double (analysis/model_weights.h), the accuracy's
  // evaluation workspace and each thread's activations (train/evaluate.h), and one Fourier basis (cos and sin waves:
  // P^2 doubles).
  int64_t held = a.state_bytes + P2 * 4 + n * 8 + P2 * (8 + 4 + 8 + 1) + a.threads * 256 * act + P2 * 8;
  // The transformer's analysis: its MLP activations and attention pattern on every pair (analysis/transformer_analysis.h).
  if (transformer) held += P2 * (spec.d_mlp + 3 * spec.num_heads) * 4;

  // Then one phase at a time, each freeing what it made before the next:
  // - the weights being widened: the largest parameter in PyTorch's float order, as doubles, and copied into its
  //   matrices (a bilinear model's (H, P, P) weight: 20 bytes a parameter on top of the 8 held);
  const int64_t widening = largest_parameter * (4 + 8 + 8);
  // - the logits' Fourier measures (analysis/logit_fourier.cc): the per-s sums (P^2 doubles) beside, at most, three
  //   more (P, P) tables (a second basis, the wave coefficients, the key components; then key, restricted rows and
  //   the defined pairs), Eigen's packing of a (P/2, P) x (P, P) product's operands (1.5 P^2 doubles), one block of
  //   logits per thread, and the P-column copy of a block where the model has more logits (the transformer's '=');
  int64_t logits = (4 * P2 + 3 * P2 / 2) * 8 + a.threads * kLogitBlock * act;
  if (spec.num_logits() != P) logits += kLogitBlock * P * 4;
  // - the interaction matrices' spectra.
  int64_t spectra = 0;
  if (form) {
    const int64_t dense_units = form->dense_unit_spectra() ? H : 1;
    const int64_t solving = std::max<int64_t>(1, std::min(a.threads, std::max<int64_t>(a.classes, dense_units)));
    const int64_t rank = form->factor_rank(H);  // of B in ClassSpectra's low-rank path
    if (low_rank_class_spectra(*form, P, H)) {
      // ClassSpectra's low-rank path: B, its Q (side x rank) and each thread's eigenvectors mapped back; a figure's
      // Q(c) (and its symmetric part) one at a time.
      spectra = (2 + solving) * side * rank * 8 + solving * 8 * rank * rank * 8;
      if (a.heatmaps > 0) spectra += 3 * side * side * 8;
    } else {
      // Per solving thread: the matrix, its symmetric part, the solver's copy and eigenvectors, the sorted copy, workspace.
      spectra = solving * 8 * side * side * 8;
    }
  }
  // - the transformer's forward pass over every pair at once (transformer_neuron_activations and
  //   transformer_attention_pattern): its activations with their backward scratch, zero-filled and so resident, and
  //   its logits.
  const int64_t all_pairs_forward = transformer ? P2 * act : 0;
  int64_t bytes = held + std::max({widening, logits, spectra, all_pairs_forward});
  if (a.reads_while_holding) {
    // --over-training: the last checkpoint's state stays loaded (its file's size and label table) beside each one
    // being read, then analysed.
    CheckpointPeek peek;
    peek.spec = spec;
    peek.largest_tensor_bytes = a.largest_tensor_bytes;
    bytes = a.state_bytes + P2 * 4 +
            std::max(bytes, checkpoint_load_bytes(a.state_bytes, a.largest_tensor_bytes >= 0 ? &peek : nullptr));
  }
  bytes += kProcessBaseBytes;
  const int64_t drawn = std::min(side, kMaxHeatmapSide);
  bytes += a.heatmaps * drawn * drawn * (8 + 24);  // values, and their text in the data file being written
  MemoryEstimate e;
  e.bytes = bytes;
  e.what = command + ": " + model_kind_name(spec.kind) + ", P = " + std::to_string(P) +
           (transformer ? ", d_model = " + std::to_string(spec.d_model) + ", d_mlp = " + std::to_string(spec.d_mlp)
                        : ", H = " + std::to_string(H)) +
           (form ? ", " + std::to_string(side) + " x " + std::to_string(side) + " interaction matrices on " +
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
  CheckpointPeek peek;
  const bool known = peek_checkpoint(path, &peek);
  MemoryEstimate need = checkpoint_reading_memory(command, path, static_cast<int64_t>(size), known ? &peek : nullptr);
  if (known) {
    AnalysisShape shape = shape_of(peek.spec);
    shape.state_bytes = static_cast<int64_t>(size);
    shape.largest_tensor_bytes = peek.largest_tensor_bytes;
    const MemoryEstimate analysis = analysis_memory(shape, command);
    if (analysis.bytes >= need.bytes) need = analysis;
    *analysis_checked = true;
  }
  return check_memory(need, budget);
}

}  // namespace bilmod
