// `bilmod analyze --over-training`: the progress measures of Nanda et al. 2023 at every checkpoint of a run.
// The key frequencies are the last checkpoint's, held fixed across the run (as the paper does), so restricted
// and excluded loss measure how much of the final algorithm each earlier model already used.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/memory_budget.h"
#include "util/status.h"

namespace bilmod {

struct ProgressPoint {
  int64_t epoch = 0;
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0;
  double restricted_loss = 0, excluded_loss = 0;  // NaN when the Fourier measures do not apply
  double key_share = 0;                           // the final key frequencies' share of this model's logit variance
  double input_gini = 0;                          // Gini of the input weights' per-frequency norms
  double weight_norm = 0;                         // L2 over all parameters
  double top_eigenvector_share = 0;  // class 0's top eigenvector: its dominant frequency's energy share (NaN for mlp)
};

struct ProgressMeasures {
  std::string run_dir, model, operation;
  int64_t mod_basis = 0;
  bool fourier_applies = false;
  std::vector<int64_t> key_frequencies;  // the last checkpoint's
  std::vector<ProgressPoint> points;     // by epoch
};

// Refuses (a usage Status) before reading a checkpoint or starting work that would not fit `budget`; `before_work`
// runs once the estimates pass (the command's own checks that create things, such as its output folder).
Status compute_progress_measures(const std::string& run_dir, const MemoryBudget& budget,
                                 const std::function<Status()>& before_work, ProgressMeasures* out);
// progress_measures.{png,svg,dat,gp} in dir; returns the PNG and SVG paths.
Status write_progress_figures(const ProgressMeasures& measures, const std::string& dir,
                              std::vector<std::string>* written);
nlohmann::json to_json(const ProgressMeasures& measures);
std::string format_progress_measures(const ProgressMeasures& measures);

}  // namespace bilmod
