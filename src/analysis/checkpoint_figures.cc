#include "analysis/checkpoint_figures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "analysis/clock_pizza_figures.h"
#include "analysis/fourier.h"
#include "analysis/input_weight_fourier.h"
#include "analysis/interaction_matrices.h"
#include "analysis/logit_fourier.h"
#include "analysis/matrix_figures.h"
#include "analysis/model_weights.h"
#include "model/model.h"
#include "analysis/report.h"
#include "analysis/training_curves.h"
#include "plot/heatmap_downsample.h"
#include "plot/html_index.h"
#include "train/evaluate.h"
#include "util/format_number.h"

namespace bilmod {

namespace {

std::string str(int64_t x) { return std::to_string(x); }

int grid_columns(size_t n) { return std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))))); }

std::string describe_frequency(const DominantFrequency& d, bool blocks) {
  std::string s = "k = " + str(d.frequency) + " (" + format_number("%.0f", 100 * d.share) + " %";
  if (blocks)
    s += "; a " + format_number("%.0f", 100 * d.share_a) + " %, b " + format_number("%.0f", 100 * d.share_b) + " %";
  return s + ")";
}

// A figure of the top eigenvectors of one symmetric matrix, one panel each.
Figure eigenvector_figure(const std::string& name, const std::string& title, const SymmetricSpectrum& s,
                          const FourierBasis& basis, int64_t count, bool blocks) {
  Figure f;
  f.name = name;
  f.title = title;
  const int64_t n = std::min<int64_t>(count, s.eigenvalues.size());
  f.columns = static_cast<int>(n == 4 ? 2 : std::min<int64_t>(n, 3));  // 4 as 2x2 rather than 3 + 1
  const int rows = static_cast<int>((n + f.columns - 1) / f.columns);
  f.width = 440 * f.columns + 40;
  f.height = 320 * rows + 70;
  for (int64_t i = 0; i < n; ++i) {
    const DominantFrequency d = dominant_frequency(basis, s.eigenvectors.col(i));
    f.panels.push_back(vector_panel("{/Symbol l}_" + str(i + 1) + " = " + format_number("%.4g", s.eigenvalues[i]) +
                                        ",  " + describe_frequency(d, blocks),
                                    s.eigenvectors.col(i), basis, blocks));
  }
  return f;
}

// The upstream's singular_vectors_output_{c}: the top singular vectors of class c's matrix, left ones above, right
// ones below. Bilinear's M_c is not symmetric (BDCSVD); factored's and mlp quad's Q(c) are, so they follow from
// its spectrum (the left vector is the eigenvector, the right one carries the eigenvalue's sign).
Figure singular_vector_figure(const ModelWeights& w, int64_t c, const SymmetricSpectrum& spectrum,
                              const FourierBasis& basis, int64_t count, const std::string& where) {
  const bool symmetric = w.form->over_blocks();
  const SingularTriplets t =
      symmetric ? singular_triplets(spectrum) : singular_triplets(class_interaction_matrix(w, c));
  const int64_t n = std::min<int64_t>(count, t.values.size());
  Figure f;
  f.name = "singular_vectors_output_" + str(c);
  const std::string symbol = symmetric ? "Q(" + str(c) + ")" : "M_{" + str(c) + "}";
  f.title = "Top " + str(n) + " singular vectors of " + symbol + " (" + where + ")";
  f.columns = static_cast<int>(std::max<int64_t>(n, 1));
  f.width = 380 * f.columns + 40;
  f.height = 2 * 320 + 70;
  f.font_size = 10;
  std::vector<Panel> right;
  for (int64_t i = 0; i < n; ++i) {
    const DominantFrequency dl = dominant_frequency(basis, t.left.col(i)),
                            dr = dominant_frequency(basis, t.right.col(i));
    Panel u = vector_panel("U[:, " + str(i) + "]  ({/Symbol s} = " + format_number("%.4g", t.values[i]) +
                               "), k = " + str(dl.frequency) + " (" + format_number("%.0f", 100 * dl.share) + " %)",
                           t.left.col(i), basis, symmetric);
    Panel v = vector_panel(
        "V[:, " + str(i) + "], k = " + str(dr.frequency) + " (" + format_number("%.0f", 100 * dr.share) + " %)",
        t.right.col(i), basis, symmetric);
    if (!symmetric && t.left.rows() <= kMaxEigenvectorPoints)
      u.x.label = "input a", v.x.label = "input b";  // M_c's rows, columns
    f.panels.push_back(u);
    right.push_back(v);
  }
  f.panels.insert(f.panels.end(), right.begin(), right.end());
  f.caption =
      "The upstream's singular-vector figure for output " + str(c) + ": " + symbol +
      " = sum_i (U^T e_c)_i W_i = " + "sum_i sigma_i u_i v_i^T, its top " + str(n) +
      " left singular vectors u_i (top row" + (symmetric ? "" : ", over input a") + ") and right ones v_i (bottom row" +
      (symmetric ? "" : ", over input b") + "), each titled with its dominant frequency. " +
      (symmetric ? symbol +
                       " is symmetric: its singular values are |lambda| and u_i = +-v_i (v_i carries the "
                       "eigenvalue's sign), the eigenvectors drawn in class_eigenvectors_" +
                       str(c) + "."
                 : std::string("M_c is not symmetric, so its singular vectors differ from the eigenvectors of its "
                               "symmetric part in class_eigenvectors_") +
                       str(c) + ".") +
      long_eigenvector_note(t.left.rows(), symmetric);
  return f;
}

// What every figure builder reads: the checkpoint, the options, its weights in double, the Fourier basis, and the
// classes to draw.
struct FigureContext {
  const AnalysisInput& input;
  const CheckpointFigureOptions& options;
  const ModelWeights& w;
  const FourierBasis& basis;
  const std::string& where;
  const std::vector<int64_t>& classes;
};
struct FigureOutput {
  std::vector<Figure>* figures;
  std::vector<std::string>* notes;
  std::vector<std::string>* summary;
};

// Each builder names what it reads as the one function this was (the same names as checkpoint_figures' own).
#define BILMOD_FIGURE_CONTEXT                                             \
  [[maybe_unused]] const AnalysisInput& input = ctx.input;                \
  [[maybe_unused]] const CheckpointFigureOptions& options = ctx.options;  \
  [[maybe_unused]] const TrainingState& state = input.state;              \
  [[maybe_unused]] const ModelSpec& spec = state.spec();                  \
  [[maybe_unused]] const int64_t P = spec.mod_basis, H = spec.hidden_dim; \
  [[maybe_unused]] const ModelWeights& w = ctx.w;                         \
  [[maybe_unused]] const FourierBasis& basis = ctx.basis;                 \
  [[maybe_unused]] const InteractionForm* form = w.form;                  \
  [[maybe_unused]] const bool blocks = form && form->over_blocks();       \
  [[maybe_unused]] const std::string& where = ctx.where;                  \
  [[maybe_unused]] const std::vector<int64_t>& classes = ctx.classes;     \
  [[maybe_unused]] std::vector<Figure>& figures = *out.figures;           \
  [[maybe_unused]] std::vector<std::string>* notes = out.notes;           \
  [[maybe_unused]] std::vector<std::string>* summary = out.summary;

// 1-4. The seed's figures of the interaction matrices (grid, spectra, eigenvectors, per class), where the model
// has them.
void interaction_figures(const FigureContext& ctx, FigureOutput out) {
  BILMOD_FIGURE_CONTEXT
  if (form) {
    const std::string unit_symbol = blocks ? "Q" : "W";
    // 1. The seed's interaction_matrices_grid.
    Figure grid;
    grid.name = "interaction_matrices_grid";
    const int64_t n = std::min(options.num_matrices, H);
    grid.title = "Interaction matrices " + unit_symbol + "_k of hidden units 0.." + str(n - 1) + " (" + where + ")";
    grid.columns = grid_columns(static_cast<size_t>(n));
    const int rows = static_cast<int>((n + grid.columns - 1) / grid.columns);
    grid.width = 430 * grid.columns + 40;
    grid.height = 390 * rows + 70;
    grid.font_size = 10;
    for (int64_t k = 0; k < n; ++k) {
      Panel p;
      p.title = "unit " + str(k) + ": " + unit_symbol + "_{" + str(k) + "}";
      p.heatmap = heatmap_of(unit_interaction_matrix(w, k), P);
      label_matrix_axes(&p, w);
      grid.panels.push_back(p);
    }
    grid.caption = form->unit_grid_caption();
    grid.caption += downsampling_note(interaction_matrix_size(w));
    figures.push_back(grid);

    // 2. The seed's eigenvalue_spectrum: every unit's eigenvalues.
    std::vector<SymmetricSpectrum> unit_spectra(static_cast<size_t>(H));
#pragma omp parallel for schedule(dynamic)
    for (int64_t k = 0; k < H; ++k) {
      unit_spectra[k] = unit_spectrum(w, k);
      // Only the first three units' eigenvectors are drawn: the others' (P x P each for bilinear) are not kept.
      if (k >= 3) unit_spectra[k].eigenvectors.resize(0, 0);
    }
    Figure spectrum;
    spectrum.name = "eigenvalue_spectrum";
    spectrum.title = "Eigenvalues of every hidden unit's interaction matrix (" + where + ")";
    spectrum.columns = 2;
    spectrum.width = 1300;
    spectrum.height = 520;
    Panel by_unit, by_rank;
    by_unit.title = "eigenvalues per unit";
    by_unit.x.label = "hidden unit k";
    by_unit.y.label = "{/Symbol l}";
    by_rank.title = "every unit's eigenvalues pooled, by |{/Symbol l}|";
    by_rank.x.label = "rank among all units' eigenvalues of that sign";
    by_rank.y.label = "|{/Symbol l}|";
    by_rank.y.log = true;
    Series positive, negative;
    positive.label = "{/Symbol l} > 0";
    negative.label = "{/Symbol l} < 0";
    positive.style = negative.style = SeriesStyle::kPoints;
    positive.color = "#b2182b";
    negative.color = "#2166ac";
    std::vector<double> pooled_positive, pooled_negative;
    for (int64_t k = 0; k < H; ++k) {
      const auto& ev = unit_spectra[k].eigenvalues;
      for (Eigen::Index i = 0; i < ev.size(); ++i) {
        Series& s = ev[i] >= 0 ? positive : negative;
        s.x.push_back(static_cast<double>(k));
        s.y.push_back(ev[i]);
        (ev[i] >= 0 ? pooled_positive : pooled_negative).push_back(std::abs(ev[i]));
      }
    }
    by_unit.series = {positive, negative};
    Series pooled_pos = positive, pooled_neg = negative;
    pooled_pos.style = pooled_neg.style = SeriesStyle::kLines;
    for (auto [series, pooled] : {std::pair{&pooled_pos, &pooled_positive}, std::pair{&pooled_neg, &pooled_negative}}) {
      std::sort(pooled->begin(), pooled->end(), std::greater<double>());
      series->x.clear();
      series->y = *pooled;
      for (size_t i = 0; i < pooled->size(); ++i) series->x.push_back(static_cast<double>(i + 1));
    }
    by_rank.series = {pooled_pos, pooled_neg};
    spectrum.panels = {by_unit, by_rank};
    spectrum.caption = form->unit_spectrum_caption();
    figures.push_back(spectrum);

    // 3. The seed's eigenvectors_unit_{k} for the first three units.
    for (int64_t k = 0; k < std::min<int64_t>(3, H); ++k) {
      Figure f = eigenvector_figure("eigenvectors_unit_" + str(k),
                                    "Top eigenvectors of " + unit_symbol + "_{" + str(k) + "} (" + where + ")",
                                    unit_spectra[k], basis, options.num_eigenvectors, blocks);
      f.caption =
          "The top " + str(static_cast<int64_t>(f.panels.size())) + " eigenvectors of unit " + str(k) +
          "'s interaction matrix by |eigenvalue|, each titled with its eigenvalue and dominant frequency k (the share "
          "of the vector's mean-removed energy at cos/sin(2 pi k x / P)" +
          (blocks ? std::string("; a and b: the share within each block)") : std::string(")")) + "." +
          form->unit_rank_note() + long_eigenvector_note(unit_spectra[k].eigenvectors.rows(), blocks);
      figures.push_back(f);
    }

    // 4. Per-class matrices and their eigenvectors.
    const std::string class_symbol = blocks ? "Q(c)" : "M_c";
    const size_t class_grid_at = figures.size();  // the grid goes before the per-class eigenvector figures
    Figure class_grid;
    class_grid.name = "class_interaction_matrices";
    class_grid.title = "Per-class interaction matrices " + class_symbol + " (" + where + ")";
    class_grid.columns = static_cast<int>(std::min<size_t>(classes.size(), 3));
    const int class_rows = static_cast<int>((classes.size() + class_grid.columns - 1) / class_grid.columns);
    class_grid.width = 470 * class_grid.columns + 40;
    class_grid.height = 430 * class_rows + 70;
    class_grid.font_size = 10;
    const ClassSpectra class_spectrum(w);
    for (int64_t c : classes) {
      Panel p;
      p.title = "class c = " + str(c);
      p.heatmap = heatmap_of(class_interaction_matrix(w, c), P);
      label_matrix_axes(&p, w);
      class_grid.panels.push_back(p);
      const SymmetricSpectrum s = class_spectrum(c);
      Figure f = eigenvector_figure(
          "class_eigenvectors_" + str(c),
          "Top eigenvectors of " + (blocks ? "Q(" + str(c) + ")" : "M_{" + str(c) + "}") + " (" + where + ")", s, basis,
          options.num_eigenvectors, blocks);
      f.caption = "Top eigenvectors of class " + str(c) +
                  "'s interaction matrix by |eigenvalue|. On a model that has grokked " +
                  "addition they are cos/sin waves at a few key frequencies, in +-lambda pairs sharing a frequency." +
                  long_eigenvector_note(s.eigenvectors.rows(), blocks);
      figures.push_back(f);
      figures.push_back(singular_vector_figure(w, c, s, basis, options.num_eigenvectors, where));
    }
    class_grid.caption = form->class_grid_caption();
    class_grid.caption += downsampling_note(interaction_matrix_size(w));
    figures.insert(figures.begin() + static_cast<std::ptrdiff_t>(class_grid_at), class_grid);
  } else {
    notes->push_back(
        "The " + model_of(spec).describe(spec) +
        " has no interaction matrices, so the interaction-matrix grid, "
        "eigenvalue spectrum and eigenvector figures do not exist for it; its input weights' and logits' Fourier "
        "spectra are drawn instead.");
  }
}

// 5. The logits' Fourier spectrum.
void logit_fourier_figure(const FigureContext& ctx, FigureOutput out) {
  BILMOD_FIGURE_CONTEXT
  const Operation op = state.data.operation;
  if (fourier_measures_apply(op)) {
    const LogitSums sums = logit_sums(spec, state.layout(), state.params, op);
    const LogitFourier lf = logit_fourier(sums);
    Figure f;
    f.name = "logit_fourier_spectrum";
    std::string keys;
    for (int64_t k : lf.key_frequencies) keys += (keys.empty() ? "" : ", ") + str(k);
    const std::string s_name = op == Operation::kSub ? "a-b" : "a+b";
    f.title = "Fourier spectrum of the logits along cos/sin(w_k (" + s_name + ")) (" + where + ")";
    f.width = 1100;
    f.height = 520;
    Panel p;
    p.x.label = "frequency k";
    p.y.label = "share of logit variance";
    p.x.min = 0, p.x.max = static_cast<double>(frequency_count(P)) + 1;
    p.legend = false;
    std::string named_keys = keys;
    if (lf.key_frequencies.size() > 8) {  // a long list would run off the panel: name the strongest
      named_keys.clear();
      for (size_t i = 0; i < 6; ++i) named_keys += (i ? ", " : "") + str(lf.key_frequencies[i]);
      named_keys =
          str(static_cast<int64_t>(lf.key_frequencies.size())) + " key frequencies, strongest " + named_keys + ", ...";
    } else if (!keys.empty()) {
      named_keys = "key frequencies " + keys;
    }
    p.title = keys.empty() ? "no key frequencies: the logits do not vary with " + s_name
                           : named_keys + ": " + format_number("%.1f", 100 * lf.key_share) +
                                 " % of the variance (all k: " + format_number("%.1f", 100 * lf.all_share) + " %)";
    p.legend = true;
    Series key_bars, other_bars;
    key_bars.style = other_bars.style = SeriesStyle::kBars;
    key_bars.color = "#c44e52";
    other_bars.color = "#8da0cb";
    key_bars.label = "key frequency";
    other_bars.label = "other";
    for (size_t k = 1; k <= lf.share.size(); ++k) {
      const bool key = std::find(lf.key_frequencies.begin(), lf.key_frequencies.end(), static_cast<int64_t>(k)) !=
                       lf.key_frequencies.end();
      Series& bars = key ? key_bars : other_bars;
      bars.x.push_back(static_cast<double>(k));
      bars.y.push_back(lf.share[k - 1]);
    }
    p.series = {key_bars, other_bars};
    if (lf.key_frequencies.size() <= 8)
      for (int64_t k : lf.key_frequencies) p.markers.push_back({static_cast<double>(k), "k=" + str(k)});
    f.panels.push_back(p);
    f.caption =
        "Each class's logits over all P^2 pairs, centred, projected on cos(w_k s) and sin(w_k s), s = " + s_name +
        ", w_k = 2 pi k / P; bars: frequency k's share of the total variance. Red bars: the key frequencies, the "
        "fewest whose shares reach 90 % of what all frequencies explain together (the rest of the variance, terms in a "
        "alone, b alone or a-b, is no function of " +
        s_name + ")" + (keys.empty() ? " (none here)." : ".");
    if (lf.key_frequencies.empty())
      summary->push_back("Key frequencies: none (the logits do not vary with " + s_name + ").");
    else {
      const ProgressLosses losses =
          progress_losses(spec, state.layout(), state.params, sums, state.data, lf.key_frequencies);
      summary->push_back("Key frequencies " + keys + " (" + format_number("%.1f", 100 * lf.key_share) +
                         " % of the logits' variance); restricted loss " +
                         format_number("%.4g", losses.restricted_loss) + ", excluded loss " +
                         format_number("%.4g", losses.excluded_loss) + ".");
    }
    figures.push_back(f);
  } else {
    notes->push_back(
        "Operation " + operation_name(op) +
        ": the logits' Fourier spectrum over Z_P is not drawn (the Fourier "
        "measures describe add and sub; for mul and div the structure lives on the multiplicative group).");
  }
}

// 6. The input weights' Fourier spectrum.
void input_weight_figure(const FigureContext& ctx, FigureOutput out) {
  BILMOD_FIGURE_CONTEXT {
    const std::vector<double> norms = input_frequency_norms(w);
    Figure f;
    f.name = "input_weight_fourier";
    f.title = "Fourier spectrum of the input weights (" + where + ")";
    f.width = 1100;
    f.height = 520;
    Panel p;
    p.title = "Gini coefficient of the per-frequency norms: " + format_number("%.3f", gini_coefficient(norms)) +
              " (near 1 = few frequencies)";
    p.x.label = "frequency k";
    p.y.label = "norm of the weights at k";
    p.x.min = 0, p.x.max = static_cast<double>(frequency_count(P)) + 1;
    p.legend = false;
    Series bars;
    bars.style = SeriesStyle::kBars;
    bars.color = "#55a868";
    for (size_t k = 1; k <= norms.size(); ++k) {
      bars.x.push_back(static_cast<double>(k));
      bars.y.push_back(norms[k - 1]);
    }
    p.series.push_back(bars);
    f.panels.push_back(p);
    const std::string what = model_of(spec).input_weights(spec);
    f.caption = "The norm of the input weights' projection on each frequency k (" + what +
                "). A model that has learnt the Fourier algorithm concentrates them on its key frequencies.";
    figures.push_back(f);
  }
}

// 7. Training curves from the tracking store.
void training_curve_figure(const FigureContext& ctx, FigureOutput out) {
  BILMOD_FIGURE_CONTEXT
  TrainingCurves curves;
  if (input.format != "safetensors") {
    notes->push_back("No training curves: a torch.save checkpoint names no bilmod tracking run.");
  } else if (Status s = read_training_curves(state, &curves); !s) {
    notes->push_back("No training curves: " + s.message() + ".");
  } else {
    Figure f;
    f.name = "training_curves";
    f.title = "Training curves of run " + plain_text(state.run_name.empty() ? state.run_id : state.run_name);
    f.columns = 2;
    f.width = 1300;
    f.height = 520;
    Panel loss, acc;
    loss.title = "loss";
    loss.x.label = acc.x.label = "epoch";
    loss.y.label = "cross-entropy";
    loss.y.log = true;
    acc.title = "accuracy";
    acc.y.label = "accuracy";
    acc.y.min = 0, acc.y.max = 1.3;  // headroom above 1 for the legend, clear of every curve
    acc.y.tic_step = 0.2;
    acc.legend_position = "top left Left reverse";
    loss.x.min = acc.x.min = curves.epoch.front();
    loss.x.max = acc.x.max = curves.epoch.back();
    auto add = [&curves](Panel* p, const std::string& key, const std::string& label, const char* color) {
      auto it = curves.metrics.find(key);
      if (it == curves.metrics.end()) return;
      Series series;
      series.label = label;
      series.color = color;
      series.x = curves.epoch;
      series.y = it->second;
      p->series.push_back(series);
    };
    add(&loss, "train/loss", "train", "#1f77b4");
    add(&loss, "val/loss", "validation", "#d62728");
    add(&acc, "train/accuracy", "train", "#1f77b4");
    add(&acc, "val/accuracy", "validation", "#d62728");
    f.panels = {loss, acc};
    f.caption =
        "Loss and accuracy on the train and validation pairs at every evaluation, read from the tracking store " +
        curves.database + " (run " + state.run_id + ").";
    figures.push_back(f);
  }
}

// 8. The Clock and the Pizza's correct-logit table and token-embedding circles.
void clock_pizza_figure(const FigureContext& ctx, FigureOutput out) {
  BILMOD_FIGURE_CONTEXT
  for (Figure& f : clock_pizza_figures(state, where, notes)) figures.push_back(std::move(f));
}

#undef BILMOD_FIGURE_CONTEXT

using FigureBuilder = void (*)(const FigureContext&, FigureOutput);
// The figures in the index's order: one builder each.
constexpr FigureBuilder kFigureBuilders[] = {interaction_figures, logit_fourier_figure, input_weight_figure,
                                             training_curve_figure, clock_pizza_figure};

}  // namespace

std::vector<Figure> checkpoint_figures(const AnalysisInput& input, const CheckpointFigureOptions& options,
                                       std::vector<std::string>* notes, std::vector<std::string>* summary) {
  const TrainingState& state = input.state;
  const ModelSpec& spec = state.spec();
  const int64_t P = spec.mod_basis;
  const ModelWeights w = model_weights(spec, state.layout(), state.params);
  const FourierBasis basis(P);
  const std::string model = model_of(spec).name();
  const std::string where = describe_model(spec) + ", epoch " + str(state.epoch);
  std::vector<Figure> figures;

  EvaluationWorkspace ws;
  const SplitMetrics metrics = evaluate_splits(spec, state.layout(), state.params.data(), state.data, &ws);
  summary->push_back("Checkpoint " + input.path + " (" + input.format + "): " + describe_model(spec) + ", operation " +
                     operation_name(state.data.operation) + ", epoch " + str(state.epoch) + ".");
  if (input.split_known)
    summary->push_back(
        "Recomputed from the parameters: train accuracy " + format_number("%.4f", metrics.train_accuracy) +
        ", validation accuracy " + format_number("%.4f", metrics.val_accuracy) + " (loss " +
        format_number("%.4g", metrics.train_loss) + " / " + format_number("%.4g", metrics.val_loss) + ").");
  else
    summary->push_back("Accuracy over every pair " + format_number("%.4f", metrics.train_accuracy) +
                       " (the file holds no split).");
  for (const auto& n : input.notes) notes->push_back(n);

  std::vector<int64_t> classes = options.output_classes.empty() ? default_output_classes(P) : options.output_classes;
  if (static_cast<int64_t>(classes.size()) > kMaxClassPanels) {
    notes->push_back("Only the first " + str(kMaxClassPanels) + " of the " + str(static_cast<int64_t>(classes.size())) +
                     " chosen classes are drawn; `bilmod analyze --json --output-classes ...` reports all of them.");
    classes.resize(kMaxClassPanels);
  }

  const FigureContext context{input, options, w, basis, where, classes};
  for (const FigureBuilder build : kFigureBuilders) build(context, {&figures, notes, summary});
  return figures;
}

Status draw_checkpoint_figures(const AnalysisInput& input, const CheckpointFigureOptions& options,
                               const std::string& dir, std::vector<RenderedFigure>* figures, std::string* index_path) {
  FigureIndex index;
  const std::vector<Figure> all = checkpoint_figures(input, options, &index.notes, &index.summary);
  BILMOD_TRY(render_figures(all, dir, &index.figures));
  index.title = "bilmod: " + std::string(model_of(input.state.spec()).name()) +
                " model, P = " + std::to_string(input.state.spec().mod_basis) + ", epoch " +
                std::to_string(input.state.epoch);
  BILMOD_TRY(write_figure_index(index, dir, index_path));
  *figures = index.figures;
  return Status::ok();
}

}  // namespace bilmod
