// A quantity the grokking papers track beside the losses (docs/MODELS.md "Measures"), behind one interface: one file
// each (train/<name>.cc), one line in train/measure_registry.cc. The trainer logs every measure that applies to the run's
// model with each evaluation, `bilmod analyze` reports them for a checkpoint, and the tracking store and the dashboard
// take any metric name, so a new measure needs no other edit (docs/ARCHITECTURE.md "Adding a measure").
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model_spec.h"
#include "train/evaluate.h"

namespace bilmod {

// What a measure may read: the model and its parameters, and the evaluation of its splits just made (with what the
// measures asked of it through request()).
struct MeasureInput {
  const ModelSpec& spec;
  const ParameterLayout& layout;
  const float* params;
  const SplitMetrics& metrics;
  const EvaluationWorkspace& evaluation;  // its pairs (train then validation), labels and what was asked per pair
};

class Measure {
 public:
  virtual ~Measure() = default;
  // Its metric name, or the prefix of its names ("weight_norm/").
  virtual const char* name() const = 0;
  // Whether the model has what it measures.
  virtual bool applies(const ModelSpec&, const ParameterLayout&) const { return true; }
  // When it runs: with every evaluation of a run, or only when `bilmod analyze` asks (a measure too costly to log).
  enum class When { kEveryEvaluation, kOnDemand };
  virtual When when() const { return When::kEveryEvaluation; }
  // What it needs the evaluation's pass over the pairs to record (softmax collapse reads every train pair's logits).
  virtual void request(EvaluationOptions*) const {}
  // Adds its values to a metrics row (none where a value is undefined).
  virtual void log(const MeasureInput& in, nlohmann::json* row) const = 0;
};

// Every measure, in the order they are logged.
const std::vector<const Measure*>& registered_measures();

// The registered measures that apply to this model and run at `when`, and the evaluation options they need on top
// of `base`.
std::vector<const Measure*> applicable_measures(const ModelSpec& spec, const ParameterLayout& layout,
                                                Measure::When when);
EvaluationOptions measure_evaluation_options(const std::vector<const Measure*>& measures, EvaluationOptions base);
// Each measure's values for one evaluation.
void log_measures(const std::vector<const Measure*>& measures, const MeasureInput& in, nlohmann::json* row);

}  // namespace bilmod
