// How much memory `analyze` and `visualize-checkpoint` will take for a loaded model (util/memory_budget.h): the
// loaded state, its weights in double precision, the streamed logit sums (P^2), and each thread's interaction
// matrix with its eigensolver's workspace ((2P)^2 for factored, P^2 for bilinear). Nothing grows as P^3.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "model/model_spec.h"
#include "util/memory_budget.h"

namespace bilmod {

struct AnalysisShape {
  ModelSpec spec;
  int64_t state_bytes = 0;  // the loaded checkpoint (parameters, optimiser state, split): about its file's size
  int64_t classes = 0;      // per-class interaction matrices to solve
  int64_t heatmaps = 0;     // heatmap panels to draw (visualize-checkpoint), 0 for analyze
  bool reads_while_holding = false;  // --over-training: the last checkpoint stays loaded while each one is read
  int64_t largest_tensor_bytes =
      -1;  // the checkpoint's largest tensor (its header), -1 unknown (checkpoint_load_bytes)
  int64_t threads = 1;
  int64_t hosvd_top_k = 0;  // analyze --hosvd: the flattened SVD alone (analysis/hosvd.h), its figure and file
};

MemoryEstimate analysis_memory(const AnalysisShape& shape, const std::string& command);

// Checked before the checkpoint is read: reading it (checkpoint_load_bytes) and, when its header names the model (a
// bilmod checkpoint), the analysis too, with shape_of(spec) filling in what depends on the model; the larger one is
// what it needs. *analysis_checked says whether the analysis was in it (else check it once the model is loaded: a
// torch.save file names its shapes only inside).
Status check_memory_before_loading(const std::string& command, const std::string& file_or_dir,
                                   const std::function<AnalysisShape(const ModelSpec&)>& shape_of,
                                   const MemoryBudget& budget, bool* analysis_checked);

}  // namespace bilmod
