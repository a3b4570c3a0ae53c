// weight_norm/<name>: each parameter tensor's L2 norm (Omnigrok's and the slingshot studies' curves), in the layout's
// order; the total is the trainer's own weight_norm.
#include "train/measure.h"

namespace bilmod {
namespace {

class WeightNorms final : public Measure {
 public:
  const char* name() const override { return "weight_norm/"; }
  void log(const MeasureInput& in, nlohmann::json* row) const override {
    for (const ParameterInfo& info : in.layout.parameters)
      (*row)["weight_norm/" + info.name] = l2_norm(in.params + info.offset, info.size);
  }
};

}  // namespace

const Measure& weight_norms_measure() {  // train/measure_registry.cc
  static const WeightNorms measure;
  return measure;
}

}  // namespace bilmod
