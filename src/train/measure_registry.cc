// The table of measures (train/measure.h): one line per measure.
#include "train/measure.h"

namespace bilmod {

const Measure& softmax_collapse_measure();       // train/softmax_collapse.cc
const Measure& weight_norms_measure();           // train/weight_norms.cc
const Measure& fourier_ipr_measure();            // train/fourier_ipr.cc
const Measure& distance_irrelevance_measure();   // train/distance_irrelevance.cc
const Measure& circularity_measure();            // train/circularity.cc
const Measure& gradient_symmetricity_measure();  // train/gradient_symmetricity.cc

const std::vector<const Measure*>& registered_measures() {
  static const std::vector<const Measure*> measures = {&softmax_collapse_measure(), &weight_norms_measure(),
                                                       &fourier_ipr_measure(),      &distance_irrelevance_measure(),
                                                       &circularity_measure(),      &gradient_symmetricity_measure()};
  return measures;
}

std::vector<const Measure*> applicable_measures(const ModelSpec& spec, const ParameterLayout& layout,
                                                Measure::When when) {
  std::vector<const Measure*> out;
  for (const Measure* m : registered_measures())
    if (m->when() == when && m->applies(spec, layout)) out.push_back(m);
  return out;
}

EvaluationOptions measure_evaluation_options(const std::vector<const Measure*>& measures, EvaluationOptions base) {
  for (const Measure* m : measures) m->request(&base);
  return base;
}

void log_measures(const std::vector<const Measure*>& measures, const MeasureInput& in, nlohmann::json* row) {
  for (const Measure* m : measures) m->log(in, row);
}

}  // namespace bilmod
