#include "analysis/clock_pizza_figures.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "analysis/model_weights.h"
#include "model/model.h"
#include "plot/heatmap_downsample.h"
#include "train/evaluate.h"
#include "util/format_number.h"

namespace bilmod {

namespace {

// The correct logit of every pair at ((a + b) mod P, (a - b) mod P): the table the paper's distance irrelevance
// summarises (eval-main.ipynb).
bool correct_logit_table(const TrainingState& state, const std::string& where, Figure* f, std::string* why) {
  const ModelSpec& spec = state.spec();
  const int64_t P = spec.mod_basis;
  if (state.data.operation != Operation::kAdd) {
    *why = "it is drawn for (a + b) mod P";
    return false;
  }
  EvaluationWorkspace ws;
  EvaluationOptions options;
  options.label_logits = true;
  evaluate_splits(spec, state.layout(), state.params.data(), state.data, &ws, options);
  if (static_cast<int64_t>(ws.pairs.size()) != P * P) {
    *why = "the checkpoint's split does not hold every pair";
    return false;
  }
  std::vector<double> by_pair(static_cast<size_t>(P * P));
  for (size_t i = 0; i < ws.pairs.size(); ++i) by_pair[static_cast<size_t>(ws.pairs[i])] = ws.correct_logit[i];
  // In the notebook's order (a, then b): for even P two pairs share a cell (a + b and a - b have the same parity)
  // and the later one is kept, and the other half of the cells stay 0, as there.
  std::vector<double> table(static_cast<size_t>(P * P));
  for (int64_t a = 0; a < P; ++a)
    for (int64_t b = 0; b < P; ++b)
      table[static_cast<size_t>(((a + b) % P) * P + (a - b + P) % P)] = by_pair[static_cast<size_t>(a * P + b)];
  const int64_t block = heatmap_block(P);
  Panel p;
  p.title = "correct logit";
  p.x.label = "(a - b) mod P";
  p.y.label = "(a + b) mod P";
  p.legend = false;
  p.heatmap = block_mean_heatmap(table.data(), P, P, block);
  p.heatmap->diverging = false;
  p.heatmap->colorbar_label = "logit of (a + b) mod P";
  f->name = "correct_logit_table";
  f->title = "Correct logit by (a + b, a - b) (" + where + ")";
  f->width = 760;
  f->height = 680;
  f->panels.push_back(p);
  f->caption =
      "Row (a + b) mod P, column (a - b) mod P: the logit of the correct class for the pair (a, b) (Zhong et al. "
      "2023). A clock's logit depends on a + b alone, so each row is constant; a pizza's also varies with a - b "
      "along the row. bilmod analyze reports the distance irrelevance that summarises it." +
      std::string(block > 1 ? " Drawn downsampled: each pixel is the mean of a " + std::to_string(block) + " x " +
                                  std::to_string(block) + " block."
                            : "");
  return true;
}

// The tokens' rows of W_E^T (the whole vocabulary, centred, as the notebook takes them) on their principal
// components 1-2 and 3-4; the numbers 0..P-1 as points, 0 and 1 marked to show the direction of travel.
bool token_embedding_pcs(const TrainingState& state, const std::string& where, Figure* f, std::string* why) {
  const ModelSpec& spec = state.spec();
  const ParameterInfo* embedding = model_of(spec).token_embedding(state.layout());
  if (!embedding || embedding->torch_shape.size() != 2) {
    *why = "the model has no token embedding";
    return false;
  }
  const int64_t d = embedding->torch_shape[0], vocabulary = embedding->torch_shape[1], P = spec.mod_basis;
  const RowMatrix w = as_matrix(torch_order_values(state.layout(), state.params, embedding->name), d, vocabulary);
  const Eigen::MatrixXd tokens = w.transpose();
  const Eigen::MatrixXd centred = tokens.rowwise() - tokens.colwise().mean();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> pca(centred.transpose() * centred);  // ascending
  const double total = std::max(pca.eigenvalues().sum(), 1e-300);
  const int64_t pairs = std::min<int64_t>(2, d / 2);
  f->name = "token_embedding_pcs";
  f->title = "Token embedding on its principal components (" + where + ")";
  f->columns = static_cast<int>(pairs);
  f->width = 440 * f->columns + 40;
  f->height = 470;
  for (int64_t q = 0; q < pairs; ++q) {
    const int64_t c1 = d - 1 - 2 * q, c2 = d - 2 - 2 * q;  // the components 2q+1 and 2q+2
    const Eigen::VectorXd x = centred * pca.eigenvectors().col(c1), y = centred * pca.eigenvectors().col(c2);
    Panel p;
    p.title = "PC" + std::to_string(2 * q + 1) + " (" + format_number("%.0f", 100 * pca.eigenvalues()[c1] / total) +
              " %) and PC" + std::to_string(2 * q + 2) + " (" +
              format_number("%.0f", 100 * pca.eigenvalues()[c2] / total) + " %)";
    p.x.label = "PC" + std::to_string(2 * q + 1);
    p.y.label = "PC" + std::to_string(2 * q + 2);
    Series numbers, first;
    numbers.label = "tokens 0..P-1";
    numbers.style = first.style = SeriesStyle::kPoints;
    numbers.color = "#4c72b0";
    first.label = "tokens 0 and 1";
    first.color = "#c44e52";
    for (int64_t t = 0; t < P; ++t) {
      numbers.x.push_back(x[t]);
      numbers.y.push_back(y[t]);
    }
    for (int64_t t = 0; t < std::min<int64_t>(2, P); ++t) {
      first.x.push_back(x[t]);
      first.y.push_back(y[t]);
    }
    p.series = {numbers, first};
    p.legend_position = "top right";
    f->panels.push_back(p);
  }
  f->caption =
      "Each number's token embedding (a row of W_E^T, centred over the vocabulary) projected on the embedding's top "
      "principal components, with their share of the variance. A model that embeds the numbers as a clock puts them "
      "on circles, one frequency per pair of components (Zhong et al. 2023); bilmod analyze reports their "
      "circularity.";
  return true;
}

}  // namespace

std::vector<Figure> clock_pizza_figures(const TrainingState& state, const std::string& where,
                                        std::vector<std::string>* notes) {
  std::vector<Figure> figures;
  Figure f;
  std::string why;
  if (correct_logit_table(state, where, &f, &why))
    figures.push_back(f);
  else
    notes->push_back("The correct-logit table is not drawn: " + why + ".");
  f = Figure{};
  if (token_embedding_pcs(state, where, &f, &why)) figures.push_back(f);  // no note: most models have no tokens
  return figures;
}

}  // namespace bilmod
