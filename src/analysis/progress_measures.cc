#include "analysis/progress_measures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <regex>

#include "analysis/analysis_input.h"
#include "analysis/analysis_memory.h"
#include "analysis/fourier.h"
#include "analysis/input_weight_fourier.h"
#include "analysis/interaction_matrices.h"
#include "analysis/logit_fourier.h"
#include "analysis/model_weights.h"
#include "checkpoint/checkpoint.h"
#include "plot/figure.h"
#include "train/evaluate.h"
#include "train/memory_estimate.h"

namespace bilmod {

namespace fs = std::filesystem;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

Status compute_progress_measures(const std::string& run_dir, const MemoryBudget& budget,
                                 const std::function<Status()>& before_work, ProgressMeasures* out) {
  std::vector<std::pair<int64_t, std::string>> files;
  if (std::error_code ec; !fs::is_directory(run_dir, ec))
    return Status::runtime(run_dir + ": is not a folder of checkpoints (--over-training reads a run's folder)");
  BILMOD_TRY(list_checkpoints(run_dir, &files));
  ProgressMeasures m;
  m.run_dir = run_dir;
  AnalysisInput last_input;  // bilmod's checkpoints or the PyTorch original's .pt files
  // The last checkpoint stays loaded while each one is read (checkpoint_load_bytes) and analysed; class 0's
  // interaction matrix is solved at each.
  auto shape_of = [](const ModelSpec& spec) {
    AnalysisShape shape;
    shape.spec = spec;
    shape.reads_while_holding = true;
    shape.classes = 1;
    shape.threads = worker_threads();
    return shape;
  };
  bool checked = false;
  BILMOD_TRY(check_memory_before_loading("analyze --over-training", files.back().second, shape_of, budget, &checked));
  BILMOD_TRY(load_analysis_input(files.back().second, &last_input));
  const TrainingState& last = last_input.state;
  if (!checked) {
    AnalysisShape shape = shape_of(last.spec());
    std::error_code ec;
    shape.state_bytes = static_cast<int64_t>(fs::file_size(files.back().second, ec));
    if (ec) shape.state_bytes = 0;
    BILMOD_TRY(check_memory(analysis_memory(shape, "analyze --over-training"), budget));
  }
  BILMOD_TRY(before_work());
  m.model = model_kind_name(last.spec().kind);
  m.operation = operation_name(last.data.operation);
  m.mod_basis = last.spec().mod_basis;
  m.fourier_applies = fourier_measures_apply(last.data.operation);
  if (m.fourier_applies)
    m.key_frequencies =
        logit_fourier(logit_sums(last.spec(), last.layout(), last.params, last.data.operation)).key_frequencies;
  const FourierBasis basis(m.mod_basis);
  for (const auto& [epoch, path] : files) {
    AnalysisInput input;
    BILMOD_TRY(load_analysis_input(path, &input));
    const TrainingState& s = input.state;
    if (describe_model(s.spec()) != describe_model(last.spec()))
      return Status::runtime(path + ": is not the same model as " + files.back().second +
                             " (one run's folder holds one model)");
    ProgressPoint p;
    p.epoch = s.epoch;
    EvaluationWorkspace ws;
    const SplitMetrics metrics = evaluate_splits(s.spec(), s.layout(), s.params.data(), s.data, &ws);
    p.train_loss = metrics.train_loss, p.train_accuracy = metrics.train_accuracy;
    p.val_loss = metrics.val_loss, p.val_accuracy = metrics.val_accuracy;
    p.weight_norm = l2_norm(s.params.data(), s.params.size());
    const ModelWeights w = model_weights(s.spec(), s.layout(), s.params);
    p.input_gini = gini_coefficient(input_frequency_norms(w));
    p.restricted_loss = p.excluded_loss = p.key_share = kNaN;
    if (m.fourier_applies && !m.key_frequencies.empty()) {
      const LogitSums sums = logit_sums(s.spec(), s.layout(), s.params, s.data.operation);
      const ProgressLosses losses = progress_losses(s.spec(), s.layout(), s.params, sums, s.data, m.key_frequencies);
      p.restricted_loss = losses.restricted_loss;
      p.excluded_loss = losses.excluded_loss;
      const LogitFourier f = logit_fourier(sums);
      p.key_share = 0;
      for (int64_t k : m.key_frequencies) p.key_share += f.share[k - 1];
    }
    p.top_eigenvector_share = kNaN;
    if (has_interaction_matrices(s.spec())) {
      const SymmetricSpectrum spectrum = ClassSpectra(w)(0);
      p.top_eigenvector_share = dominant_frequency(basis, spectrum.eigenvectors.col(0)).share;
    }
    m.points.push_back(p);
  }
  *out = std::move(m);
  return Status::ok();
}

namespace {
Series series_of(const ProgressMeasures& m, const std::string& label, double ProgressPoint::*field, const char* color,
                 bool dashed = false) {
  Series s;
  s.label = label;
  s.color = color;
  s.dashed = dashed;
  s.style = m.points.size() > 40 ? SeriesStyle::kLines : SeriesStyle::kLinesPoints;
  for (const auto& p : m.points) {
    s.x.push_back(static_cast<double>(p.epoch));
    s.y.push_back(p.*field);
  }
  return s;
}
}  // namespace

Status write_progress_figures(const ProgressMeasures& m, const std::string& dir, std::vector<std::string>* written) {
  Figure f;
  f.name = "progress_measures";
  f.title = "Progress measures over training: " + m.model + ", P = " + std::to_string(m.mod_basis) + ", " +
            plain_text(m.operation);
  f.columns = 2;
  f.width = 1300;
  f.height = 900;
  Panel loss;
  loss.title = "Loss";
  loss.x.label = "epoch";
  loss.y.label = "cross-entropy";
  loss.y.log = true;
  // The legend sits in the bottom-left corner; a lower y range keeps the curves above it.
  loss.legend_position = "bottom left Left reverse";
  double lowest = 1e300;
  for (const auto& p : m.points)
    for (double x : {p.train_loss, p.val_loss, p.restricted_loss, p.excluded_loss})
      if (x > 0 && std::isfinite(x)) lowest = std::min(lowest, x);
  if (lowest < 1e300) loss.y.min = lowest / 30;
  loss.series = {series_of(m, "train", &ProgressPoint::train_loss, "#1f77b4"),
                 series_of(m, "validation", &ProgressPoint::val_loss, "#d62728")};
  if (m.fourier_applies && !m.key_frequencies.empty()) {
    loss.series.push_back(
        series_of(m, "restricted (key frequencies only)", &ProgressPoint::restricted_loss, "#2ca02c", true));
    loss.series.push_back(
        series_of(m, "excluded (key frequencies removed)", &ProgressPoint::excluded_loss, "#ff7f0e", true));
  }
  Panel accuracy;
  accuracy.title = "Accuracy";
  accuracy.x.label = "epoch";
  accuracy.y.label = "accuracy";
  accuracy.y.min = 0, accuracy.y.max = 1.3;  // headroom above 1 for the legend
  accuracy.y.tic_step = 0.2;
  accuracy.legend_position = "top left Left reverse";
  accuracy.series = {series_of(m, "train", &ProgressPoint::train_accuracy, "#1f77b4"),
                     series_of(m, "validation", &ProgressPoint::val_accuracy, "#d62728")};
  Panel fourier;
  fourier.title = "Fourier concentration";
  fourier.x.label = "epoch";
  fourier.y.label = "share / Gini";
  fourier.y.min = 0, fourier.y.max = 1.45;  // headroom above 1 for the legend
  fourier.y.tic_step = 0.2;
  fourier.legend_position = "top left Left reverse";
  fourier.series = {series_of(m, "Gini of input-weight frequency norms", &ProgressPoint::input_gini, "#9467bd")};
  if (m.fourier_applies && !m.key_frequencies.empty())
    fourier.series.push_back(
        series_of(m, "key frequencies' share of logit variance", &ProgressPoint::key_share, "#2ca02c"));
  // Models with interaction matrices have it (the others' points hold NaN).
  if (std::any_of(m.points.begin(), m.points.end(),
                  [](const ProgressPoint& p) { return std::isfinite(p.top_eigenvector_share); }))
    fourier.series.push_back(series_of(m, "class 0 top eigenvector: dominant-frequency share",
                                       &ProgressPoint::top_eigenvector_share, "#ff7f0e"));
  Panel norm;
  norm.title = "Weight norm";
  norm.x.label = "epoch";
  norm.y.label = "L2 norm of all parameters";
  norm.legend = false;
  norm.series = {series_of(m, "weight norm", &ProgressPoint::weight_norm, "#7f7f7f")};
  f.panels = {loss, accuracy, fourier, norm};
  std::string keys;
  for (int64_t k : m.key_frequencies) keys += (keys.empty() ? "" : ", ") + std::to_string(k);
  f.caption = "Progress measures (Nanda et al. 2023) at every checkpoint of " + m.run_dir +
              (keys.empty() ? std::string(". The Fourier measures do not apply or no key frequencies were found.")
                            : ". Restricted loss keeps only the final model's key frequencies (" + keys +
                                  ") of the logits, on every pair; excluded loss removes them, on the train pairs.");
  std::vector<RenderedFigure> rendered;
  BILMOD_TRY(render_figures({f}, dir, &rendered));
  written->push_back(rendered[0].png);
  written->push_back(rendered[0].svg);
  return Status::ok();
}

nlohmann::json to_json(const ProgressMeasures& m) {
  auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : m.points)
    points.push_back({{"epoch", p.epoch},
                      {"train_loss", num(p.train_loss)},
                      {"train_accuracy", num(p.train_accuracy)},
                      {"val_loss", num(p.val_loss)},
                      {"val_accuracy", num(p.val_accuracy)},
                      {"restricted_loss", num(p.restricted_loss)},
                      {"excluded_loss", num(p.excluded_loss)},
                      {"key_frequency_share", num(p.key_share)},
                      {"input_gini", num(p.input_gini)},
                      {"weight_norm", num(p.weight_norm)},
                      {"top_eigenvector_share", num(p.top_eigenvector_share)}});
  return {{"run_dir", m.run_dir},
          {"model", m.model},
          {"operation", m.operation},
          {"mod_basis", m.mod_basis},
          {"fourier_applies", m.fourier_applies},
          {"key_frequencies", m.key_frequencies},
          {"checkpoints", points}};
}

std::string format_progress_measures(const ProgressMeasures& m) {
  std::string out =
      "run " + m.run_dir + ": " + m.model + ", P = " + std::to_string(m.mod_basis) + ", " + m.operation + "\n";
  std::string keys;
  for (int64_t k : m.key_frequencies) keys += " " + std::to_string(k);
  out += "key frequencies (last checkpoint):" + (keys.empty() ? std::string(" none") : keys) + "\n";
  out += "   epoch  train_acc    val_acc   val_loss  restricted   excluded   key_share   gini  weight_norm\n";
  for (const auto& p : m.points) {
    char line[256];
    std::snprintf(line, sizeof line, "%8lld %10.4f %10.4f %10.4g %11.4g %10.4g %11.3f %6.3f %12.4g\n",
                  static_cast<long long>(p.epoch), p.train_accuracy, p.val_accuracy, p.val_loss, p.restricted_loss,
                  p.excluded_loss, p.key_share, p.input_gini, p.weight_norm);
    out += line;
  }
  return out;
}

}  // namespace bilmod
