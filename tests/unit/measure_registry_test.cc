// The table of measures (train/measure.h): each measure applies to the models that have what it measures, asks the
// evaluation for what it reads, and logs exactly its own names, with the values its definition gives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/network.h"
#include "train/evaluate.h"
#include "train/fourier_ipr.h"
#include "train/measure.h"

namespace bilmod {
namespace {

ModelSpec small_spec(ModelKind kind) {
  ModelSpec spec;
  spec.kind = kind;
  spec.mod_basis = 7;
  spec.hidden_dim = 5;
  spec.d_model = 8;
  spec.num_heads = 2;
  spec.d_mlp = 12;
  return spec;
}

TEST(MeasureRegistry, NamesAreUnique) {
  std::set<std::string> names;
  for (const Measure* m : registered_measures()) EXPECT_TRUE(names.insert(m->name()).second) << m->name();
  EXPECT_EQ(names, (std::set<std::string>{"softmax_collapse", "weight_norm/", "fourier_ipr", "distance_irrelevance",
                                          "circularity", "gradient_symmetricity"}));
}

TEST(MeasureRegistry, EachModelLogsTheMeasuresThatApplyToIt) {
  const Dataset data = make_dataset(7, Operation::kAdd, 0.5, 3);
  for (const Model* model : registered_models()) {
    const ModelSpec spec = small_spec(*parse_model_kind(model->name()));
    const ParameterLayout layout = make_parameter_layout(spec);
    std::vector<float> params(layout.total);
    init_parameters(spec, layout, 11, params.data());
    const std::vector<const Measure*> measures = applicable_measures(spec, layout, Measure::When::kEveryEvaluation);
    const EvaluationOptions options = measure_evaluation_options(measures, EvaluationOptions{});
    EXPECT_TRUE(options.softmax_collapse) << model->name() << ": softmax_collapse did not ask the evaluation for it";
    EvaluationWorkspace ws;
    const SplitMetrics metrics = evaluate_splits(spec, layout, params.data(), data, &ws, options);
    nlohmann::json row = nlohmann::json::object();
    log_measures(measures, {spec, layout, params.data(), metrics, ws}, &row);

    std::set<std::string> want = {"softmax_collapse"};
    for (const ParameterInfo& info : layout.parameters) want.insert("weight_norm/" + info.name);
    const bool embeddings = !model->input_embeddings(layout).empty();  // factored and mlp
    if (embeddings) want.insert("fourier_ipr");
    std::set<std::string> got;
    for (auto it = row.begin(); it != row.end(); ++it) got.insert(it.key());
    EXPECT_EQ(got, want) << model->name();

    // The values are their definitions'.
    EXPECT_EQ(row["softmax_collapse"].get<double>(), metrics.softmax_collapse) << model->name();
    for (const ParameterInfo& info : layout.parameters) {
      double sum = 0;
      for (size_t i = 0; i < info.size; ++i) sum += double(params[info.offset + i]) * params[info.offset + i];
      EXPECT_NEAR(row["weight_norm/" + info.name].get<double>(), std::sqrt(sum), 1e-12 * std::sqrt(sum)) << info.name;
    }
    if (embeddings) {
      EXPECT_EQ(row["fourier_ipr"].get<double>(), mean_input_fourier_ipr(spec, layout, params.data())) << model->name();
    }
  }
}

// Distance irrelevance on tables whose answer is known: a correct logit that depends on a + b alone varies along
// every column as much as overall (DI = 1, a clock's); one that depends on a - b alone is constant down each column
// (DI = 0, a pizza's).
TEST(MeasureRegistry, DistanceIrrelevanceOfHandMadeLogits) {
  const int64_t P = 11;
  ModelSpec spec = small_spec(ModelKind::kFactored);
  spec.mod_basis = P;
  const ParameterLayout layout = make_parameter_layout(spec);
  const Measure* di = nullptr;
  for (const Measure* m : registered_measures())
    if (std::string(m->name()) == "distance_irrelevance") di = m;
  ASSERT_NE(di, nullptr);
  for (const bool by_sum : {true, false}) {
    EvaluationWorkspace ws;
    for (int64_t i = P * P - 1; i >= 0; --i) ws.pairs.push_back(i);  // any order: cells are found by pair index
    for (const int64_t pair : ws.pairs) {
      const int64_t a = pair / P, b = pair % P, s = (a + b) % P, d = ((a - b) % P + P) % P;
      ws.correct_logit.push_back(
          static_cast<float>(by_sum ? std::cos(2 * M_PI * 3 * s / P) : std::abs(std::cos(M_PI * 2 * d / P))));
      ws.incorrect_logit.push_back(static_cast<float>(by_sum ? d : s));  // the other way round
    }
    const SplitMetrics metrics;
    nlohmann::json row = nlohmann::json::object();
    di->log({spec, layout, nullptr, metrics, ws}, &row);
    EXPECT_NEAR(row["distance_irrelevance"].get<double>(), by_sum ? 1.0 : 0.0, 1e-7) << by_sum;
    EXPECT_NEAR(row["distance_irrelevance_incorrect"].get<double>(), by_sum ? 0.0 : 1.0, 1e-7) << by_sum;
  }
  // Fewer than P^2 pairs (division's): nothing is logged.
  EvaluationWorkspace partial;
  partial.pairs = {0, 1, 2};
  partial.correct_logit = partial.incorrect_logit = {1, 2, 3};
  nlohmann::json row = nlohmann::json::object();
  di->log({spec, layout, nullptr, SplitMetrics{}, partial}, &row);
  EXPECT_TRUE(row.empty());
}

// Gradient symmetricity where the answer is known: with W_Q = 0 every score is 0, the attention is uniform, and the
// logits depend on the tokens' embeddings through t_0 + t_1 alone, so d logit / d t_0 = d logit / d t_1 for every
// triple: both values are 1 (for one block of clock-pizza with its '=' token too, whose last position reads a and b
// through the attention alone; with more blocks positions 0 and 1 pass through the MLP apart first). It applies to the models that give token gradients and is analyze's.
TEST(MeasureRegistry, GradientSymmetricityOfUniformAttention) {
  const Measure* gs = nullptr;
  for (const Measure* m : registered_measures())
    if (std::string(m->name()) == "gradient_symmetricity") gs = m;
  ASSERT_NE(gs, nullptr);
  EXPECT_EQ(gs->when(), Measure::When::kOnDemand);
  for (const Model* model : registered_models()) {
    const ModelSpec spec = small_spec(*parse_model_kind(model->name()));
    const ParameterLayout layout = make_parameter_layout(spec);
    const std::string name = model->name();
    EXPECT_EQ(gs->applies(spec, layout), name == "transformer" || name == "clock-pizza") << name;
  }
  ModelSpec pizza = small_spec(ModelKind::kClockPizza);
  pizza.eqn_sign = true;
  pizza.attention_rate = 0.6;
  pizza.mlp = TransformerMlp::kTanh;
  std::vector<ModelSpec> specs;
  for (const TransformerMlp mlp : {TransformerMlp::kRelu, TransformerMlp::kGelu, TransformerMlp::kBilinear}) {
    specs.push_back(small_spec(ModelKind::kTransformer));
    specs.back().mlp = mlp;
  }
  specs.push_back(pizza);
  for (const ModelSpec& spec : specs) {
    const ParameterLayout layout = make_parameter_layout(spec);
    std::vector<float> params(layout.total);
    init_parameters(spec, layout, 5, params.data());
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      const ParameterInfo* wq = layout.find("blocks." + std::to_string(l) + ".attn.W_Q");
      ASSERT_NE(wq, nullptr);
      std::fill(params.begin() + static_cast<int64_t>(wq->offset),
                params.begin() + static_cast<int64_t>(wq->offset + wq->size), 0.0f);
    }
    const SplitMetrics metrics;
    const EvaluationWorkspace ws;
    nlohmann::json row = nlohmann::json::object();
    gs->log({spec, layout, params.data(), metrics, ws}, &row);
    // The transformer's gradients are computed in double, clock-pizza's in float.
    const double tolerance = spec.kind == ModelKind::kTransformer ? 1e-12 : 1e-5;
    EXPECT_NEAR(row["gradient_symmetricity"].get<double>(), 1.0, tolerance) << describe_model(spec);
    // The notebook feeds clock-pizza the literal [a, b], read at b's position: not symmetric there.
    if (spec.kind == ModelKind::kTransformer)
      EXPECT_NEAR(row["gradient_symmetricity_paper"].get<double>(), 1.0, tolerance) << describe_model(spec);
    else
      EXPECT_LT(row["gradient_symmetricity_paper"].get<double>(), 0.999) << describe_model(spec);
    // With the queries back the attention tells a from b, and the two gradients part.
    init_parameters(spec, layout, 5, params.data());
    for (float& x : params) x *= 3.0f;
    nlohmann::json apart = nlohmann::json::object();
    gs->log({spec, layout, params.data(), metrics, ws}, &apart);
    EXPECT_LT(apart["gradient_symmetricity"].get<double>(), 0.999) << describe_model(spec);
  }
}

}  // namespace
}  // namespace bilmod
