#include "analysis/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "analysis/input_weight_fourier.h"
#include "analysis/interaction_matrices.h"
#include "analysis/model_weights.h"
#include "model/model.h"
#include "train/measure.h"
#include "util/format_number.h"

namespace bilmod {

std::vector<int64_t> default_output_classes(int64_t mod_basis) {
  std::vector<int64_t> classes = {0, 1, mod_basis - 1};
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  return classes;
}

Status parse_output_classes(const std::vector<std::string>& values, int64_t mod_basis, std::vector<int64_t>* classes) {
  classes->clear();
  for (const std::string& value : values) {
    if (value == "all") {
      for (int64_t c = 0; c < mod_basis; ++c) classes->push_back(c);
      continue;
    }
    char* end = nullptr;
    errno = 0;
    const long long c = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != 0 || errno != 0)
      return Status::usage("--output-classes: '" + value + "' is not a class number (0.." +
                           std::to_string(mod_basis - 1) + ") or 'all'");
    if (c < 0 || c >= mod_basis)
      return Status::usage("--output-classes: class " + value + " is out of range for P = " +
                           std::to_string(mod_basis) + " (0.." + std::to_string(mod_basis - 1) + ")");
    classes->push_back(c);
  }
  if (classes->empty()) *classes = default_output_classes(mod_basis);
  std::sort(classes->begin(), classes->end());
  classes->erase(std::unique(classes->begin(), classes->end()), classes->end());
  return Status::ok();
}

namespace {
EigenSummary summarize(int64_t index, const SymmetricSpectrum& s, const FourierBasis& basis, int64_t top) {
  EigenSummary e;
  e.index = index;
  const int64_t n = std::min<int64_t>(top, s.eigenvalues.size());
  for (int64_t i = 0; i < n; ++i) {
    e.eigenvalues.push_back(s.eigenvalues[i]);
    e.frequencies.push_back(dominant_frequency(basis, s.eigenvectors.col(i)));
  }
  return e;
}
}  // namespace

AnalysisReport analyze_checkpoint(const TrainingState& state, const AnalysisOptions& options) {
  const ModelSpec& spec = state.spec();
  const int64_t P = spec.mod_basis, H = spec.hidden_dim;
  AnalysisReport r;
  const Model& model = model_of(spec);
  r.model = model.name();
  r.description = describe_model(spec);
  r.activation = model.has_activation() ? activation_name(spec.activation) : "";
  r.bias = model.has_bias(spec);
  r.use_output_projection = spec.output_projection;
  r.operation = operation_name(state.data.operation);
  r.mod_basis = P;
  r.hidden_dim = H;
  r.epoch = state.epoch;
  EvaluationWorkspace ws;
  std::vector<const Measure*> measures = applicable_measures(spec, state.layout(), Measure::When::kEveryEvaluation);
  for (const Measure* m : applicable_measures(spec, state.layout(), Measure::When::kOnDemand)) measures.push_back(m);
  r.metrics = evaluate_splits(spec, state.layout(), state.params.data(), state.data, &ws,
                              measure_evaluation_options(measures, EvaluationOptions{}));
  log_measures(measures, {spec, state.layout(), state.params.data(), r.metrics, ws}, &r.measures);

  if (model.has_attention()) {
    r.is_transformer = true;
    r.hidden_dim = spec.d_mlp;
    r.transformer = analyze_transformer(spec, state.layout(), state.params);
    r.input_frequency_norms = r.transformer.embed_frequency_norms;
    r.input_gini = gini_coefficient(r.input_frequency_norms);
    r.notes.push_back(model.analysis_note(spec));
  }
  const ModelWeights w = r.is_transformer ? ModelWeights{} : model_weights(spec, state.layout(), state.params);
  const FourierBasis basis(P);
  const std::vector<int64_t> classes =
      options.output_classes.empty() ? default_output_classes(P) : options.output_classes;
  r.has_interaction_matrices = w.form != nullptr;
  if (w.form) {
    r.matrices_over_blocks = w.form->over_blocks();
    r.units.resize(static_cast<size_t>(H));
    // Units are independent; each solve is small, so threads split the units.
#pragma omp parallel for schedule(dynamic)
    for (int64_t k = 0; k < H; ++k) {
      if (!w.form->dense_unit_spectra()) {  // closed forms: factored rank 2, mlp quad rank 1
        r.units[k] = summarize(k, unit_spectrum(w, k), basis, 2);
      } else {
        const RowMatrix m = unit_interaction_matrix(w, k);
        r.units[k] = summarize(k, symmetric_spectrum(m), basis, 4);
        const Eigen::VectorXd sv = singular_values(m);
        for (int64_t i = 0; i < std::min<int64_t>(4, sv.size()); ++i) r.units[k].singular_values.push_back(sv[i]);
      }
    }
    r.classes.resize(classes.size());
    const ClassSpectra class_spectrum(w);
#pragma omp parallel for schedule(dynamic)
    for (size_t i = 0; i < classes.size(); ++i) {
      if (w.form->over_blocks()) {  // symmetric: its singular values are |lambda|
        r.classes[i] = summarize(classes[i], class_spectrum(classes[i]), basis, options.top_eigenvalues);
      } else {
        const RowMatrix m = class_interaction_matrix(w, classes[i]);
        r.classes[i] = summarize(classes[i], symmetric_spectrum(m), basis, options.top_eigenvalues);
        const Eigen::VectorXd sv = singular_values(m);
        for (int64_t j = 0; j < std::min<int64_t>(options.top_eigenvalues, sv.size()); ++j)
          r.classes[i].singular_values.push_back(sv[j]);
      }
    }
  }
  if (!r.is_transformer)
    if (const std::string note = model.analysis_note(spec); !note.empty()) r.notes.push_back(note);

  if (!r.is_transformer) {
    r.input_frequency_norms = input_frequency_norms(w);
    r.input_gini = gini_coefficient(r.input_frequency_norms);
  }
  r.fourier_applies = fourier_measures_apply(state.data.operation);
  if (r.fourier_applies) {
    const LogitSums sums = logit_sums(spec, state.layout(), state.params, state.data.operation);
    r.logit = logit_fourier(sums);
    if (!r.logit.key_frequencies.empty())
      r.losses = progress_losses(spec, state.layout(), state.params, sums, state.data, r.logit.key_frequencies);
    else
      r.notes.push_back(
          "no key frequencies: the logits do not vary with a+b, so restricted and excluded loss are not defined");
  } else {
    r.notes.push_back("operation " + r.operation +
                      ": the Fourier measures of Z_P (key frequencies, restricted and "
                      "excluded loss) do not apply (for mul/div the structure lives on the multiplicative group); "
                      "eigenvector frequencies and the input-weight Gini coefficient are shown for reference only");
  }
  return r;
}

namespace {
nlohmann::json frequency_json(const DominantFrequency& d, bool blocks) {
  nlohmann::json j = {{"frequency", d.frequency}, {"share", d.share}};
  if (blocks) j["share_a"] = d.share_a, j["share_b"] = d.share_b;
  return j;
}

nlohmann::json summary_json(const EigenSummary& e, const char* index_name, bool blocks) {
  nlohmann::json j = {{index_name, e.index}, {"eigenvalues", e.eigenvalues}};
  nlohmann::json f = nlohmann::json::array();
  for (const auto& d : e.frequencies) f.push_back(frequency_json(d, blocks));
  j["eigenvector_frequencies"] = f;
  if (!e.singular_values.empty()) j["singular_values"] = e.singular_values;
  return j;
}

// NaN-free JSON: a measure that does not exist is null.
nlohmann::json number_or_null(bool present, double x) { return present ? nlohmann::json(x) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json to_json(const AnalysisReport& r) {
  const bool blocks = r.matrices_over_blocks;
  nlohmann::json j;
  j["checkpoint"] = r.checkpoint;
  j["source_format"] = r.source_format;
  j["model"] = r.model;
  j["activation"] = r.activation.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.activation);
  j["bias"] = r.bias;
  j["use_output_projection"] = r.use_output_projection;
  j["operation"] = r.operation;
  j["mod_basis"] = r.mod_basis;
  j["hidden_dim"] = r.hidden_dim;
  j["epoch"] = r.epoch;
  j["split_known"] = r.split_known;
  j["train"] = {{"loss", r.metrics.train_loss}, {"accuracy", r.metrics.train_accuracy}};
  j["measures"] = r.measures;
  j["val"] = r.split_known ? nlohmann::json{{"loss", r.metrics.val_loss}, {"accuracy", r.metrics.val_accuracy}}
                           : nlohmann::json(nullptr);
  j["has_interaction_matrices"] = r.has_interaction_matrices;
  nlohmann::json units = nlohmann::json::array(), classes = nlohmann::json::array();
  for (const auto& u : r.units) units.push_back(summary_json(u, "unit", blocks));
  for (const auto& c : r.classes) classes.push_back(summary_json(c, "class", blocks));
  j["units"] = units;
  j["classes"] = classes;
  j["fourier_applies"] = r.fourier_applies;
  nlohmann::json shares = nlohmann::json::array();
  for (size_t k = 0; k < r.logit.share.size(); ++k)
    shares.push_back({{"frequency", k + 1}, {"share", r.logit.share[k]}});
  const bool keyed = r.fourier_applies && !r.logit.key_frequencies.empty();
  j["logit_frequency_shares"] = r.fourier_applies ? shares : nlohmann::json(nullptr);
  nlohmann::json key = nlohmann::json::array();
  for (int64_t k : r.logit.key_frequencies) key.push_back({{"frequency", k}, {"share", r.logit.share[k - 1]}});
  j["key_frequencies"] = r.fourier_applies ? key : nlohmann::json(nullptr);
  j["key_frequency_share"] = number_or_null(keyed, r.logit.key_share);
  j["all_frequency_share"] = number_or_null(r.fourier_applies, r.logit.all_share);
  j["restricted_loss"] = number_or_null(keyed, r.losses.restricted_loss);
  j["excluded_loss"] = number_or_null(keyed, r.losses.excluded_loss);
  j["input_frequency_norms"] = r.input_frequency_norms;
  j["input_gini"] = r.input_gini;
  j["notes"] = r.notes;
  if (r.is_transformer) j["transformer"] = to_json(r.transformer);
  return j;
}

namespace {

std::string describe(const DominantFrequency& d, bool blocks) {
  std::string s = "k=" + std::to_string(d.frequency) + " (" + format_number("%.0f", 100 * d.share) + " %";
  if (blocks)
    s += ", a " + format_number("%.0f", 100 * d.share_a) + " % / b " + format_number("%.0f", 100 * d.share_b) + " %";
  return s + ")";
}
}  // namespace

std::string format_report(const AnalysisReport& r) {
  const bool blocks = r.matrices_over_blocks;
  std::string out;
  out += "checkpoint   " + r.checkpoint + " (" + r.source_format + ")\n";
  out += "model        " + r.description + ", operation " + r.operation + ", epoch " + std::to_string(r.epoch) + "\n";
  if (r.split_known)
    out += "accuracy     train " + format_number("%.4f", r.metrics.train_accuracy) + " (loss " +
           format_number("%.4g", r.metrics.train_loss) + "), val " + format_number("%.4f", r.metrics.val_accuracy) +
           " (loss " + format_number("%.4g", r.metrics.val_loss) + ")\n";
  else
    out += "accuracy     every pair " + format_number("%.4f", r.metrics.train_accuracy) + " (loss " +
           format_number("%.4g", r.metrics.train_loss) + "; the checkpoint holds no train/validation split)\n";
  if (r.fourier_applies) {
    if (!r.logit.key_frequencies.empty()) {
      out += "key frequencies (" + format_number("%.1f", 100 * r.logit.key_share) +
             " % of logit variance; all frequencies " + format_number("%.1f", 100 * r.logit.all_share) + " %):";
      for (int64_t k : r.logit.key_frequencies)
        out += " " + std::to_string(k) + " (" + format_number("%.1f", 100 * r.logit.share[k - 1]) + " %)";
      out += "\n";
      out += "restricted loss " + format_number("%.4g", r.losses.restricted_loss) + ", excluded loss " +
             format_number("%.4g", r.losses.excluded_loss) + "\n";
    } else {
      out += "key frequencies none (all frequencies explain " + format_number("%.1f", 100 * r.logit.all_share) +
             " % of logit variance)\n";
    }
  }
  out += "input weights Gini of per-frequency norms " + format_number("%.3f", r.input_gini) +
         " (near 1 = few frequencies)\n";
  out += "measures    ";
  for (auto it = r.measures.begin(); it != r.measures.end(); ++it)
    if (it.value().is_number()) out += " " + it.key() + " " + format_number("%.4g", it.value().get<double>());
  out += "\n";
  if (r.has_interaction_matrices) {
    out += "\nper-class interaction matrices (" + std::string(blocks ? "Q(c)" : "M_c") +
           "), top eigenvalues by |lambda| with their eigenvectors' dominant frequency:\n";
    for (const auto& c : r.classes) {
      out += "  class " + std::to_string(c.index) + ":\n";
      for (size_t i = 0; i < c.eigenvalues.size(); ++i)
        out += "    " + format_number("%+11.4g", c.eigenvalues[i]) + "  " + describe(c.frequencies[i], blocks) + "\n";
      if (!c.singular_values.empty()) {
        out += "    singular values:";
        for (double s : c.singular_values) out += " " + format_number("%.4g", s);
        out += "\n";
      }
    }
    // Units: how many have their top eigenvector at each frequency, the strongest first.
    std::map<int64_t, int> count;
    for (const auto& u : r.units)
      if (!u.frequencies.empty()) ++count[u.frequencies[0].frequency];
    std::vector<std::pair<int, int64_t>> ranked;
    for (auto [k, n] : count) ranked.push_back({n, k});
    std::sort(ranked.begin(), ranked.end(),
              [](auto x, auto y) { return x.first != y.first ? x.first > y.first : x.second < y.second; });
    out += "\nhidden units' top eigenvector frequency (frequency: units):";
    for (size_t i = 0; i < std::min<size_t>(ranked.size(), 10); ++i)
      out += " " + std::to_string(ranked[i].second) + ": " + std::to_string(ranked[i].first);
    out += "\n  (every unit's eigenvalues are in --json)\n";
  }
  if (r.is_transformer) out += format_transformer_analysis(r.transformer);
  for (const auto& note : r.notes) out += "note: " + note + "\n";
  return out;
}

}  // namespace bilmod
