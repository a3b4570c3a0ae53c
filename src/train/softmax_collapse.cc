// softmax_collapse (Prieto et al. 2025, docs/MODELS.md "Measures"): the fraction of train pairs whose float32 softmax
// has collapsed (model/loss.h softmax_collapsed), read from the evaluation's own logits, so it costs no extra pass.
#include "train/measure.h"

namespace bilmod {
namespace {

class SoftmaxCollapse final : public Measure {
 public:
  const char* name() const override { return "softmax_collapse"; }
  void request(EvaluationOptions* options) const override { options->softmax_collapse = true; }
  void log(const MeasureInput& in, nlohmann::json* row) const override {
    (*row)["softmax_collapse"] = in.metrics.softmax_collapse;
  }
};

}  // namespace

const Measure& softmax_collapse_measure() {  // train/measure_registry.cc
  static const SoftmaxCollapse measure;
  return measure;
}

}  // namespace bilmod
