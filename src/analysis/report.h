// `bilmod analyze`: every measure of docs/MODELS.md "Analysis" for one checkpoint, as a struct, JSON and text.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/fourier.h"
#include "analysis/logit_fourier.h"
#include "analysis/transformer_analysis.h"
#include "train/evaluate.h"
#include "config/training_state.h"

namespace bilmod {

struct AnalysisOptions {
  std::vector<int64_t> output_classes;  // empty: 0, 1, P-1
  int64_t top_eigenvalues = 6;          // per class; a unit reports min(4, its rank)
};

// The classes --output-classes names; "all" means every class. A usage Status for a bad or out-of-range value.
Status parse_output_classes(const std::vector<std::string>& values, int64_t mod_basis, std::vector<int64_t>* classes);
std::vector<int64_t> default_output_classes(int64_t mod_basis);

struct EigenSummary {
  int64_t index = 0;                           // hidden unit k or output class c
  std::vector<double> eigenvalues;             // the largest by |lambda|
  std::vector<DominantFrequency> frequencies;  // of their eigenvectors
  std::vector<double> singular_values;         // largest first (bilinear only: W_k and M_c are not symmetric)
};

struct AnalysisReport {
  std::string checkpoint;     // path as given
  std::string source_format;  // "safetensors" or "torch.save"
  std::string model, operation;
  std::string description;                         // describe_model: "bilinear model with P = 113, H = 100"
  std::string activation;                          // relu | quad | none ("" for factored)
  bool bias = true, use_output_projection = true;  // bilinear's variants (the upstream's have neither)
  int64_t mod_basis = 0, hidden_dim = 0, epoch = 0;
  bool split_known = true;  // false for a torch.save file without a saved split: accuracy is on every pair
  SplitMetrics metrics;     // recomputed from the parameters
  nlohmann::json measures = nlohmann::json::object();  // every measure that applies (train/measure.h), by name
  bool has_interaction_matrices = false;
  bool matrices_over_blocks = false;  // over [e_a; e_b] (and a bias): frequencies are read per block (not in --json)
  std::vector<EigenSummary> units;    // every hidden unit
  std::vector<EigenSummary> classes;  // the chosen output classes
  bool fourier_applies = false;       // add and sub only
  LogitFourier logit;
  ProgressLosses losses;
  std::vector<double> input_frequency_norms;  // (K,)
  double input_gini = 0;
  std::vector<std::string> notes;  // what does not apply to this model or checkpoint, and why
  bool is_transformer = false;
  TransformerAnalysis transformer;  // --model transformer: its own measures
};

AnalysisReport analyze_checkpoint(const TrainingState& state, const AnalysisOptions& options);

nlohmann::json to_json(const AnalysisReport& report);
std::string format_report(const AnalysisReport& report);

}  // namespace bilmod
