// The table of models (model/registry.cc): every --model name resolves to its own Model and back, and what the
// engine asks of each (its parameters, logits, activations per example, sparse rows) is that model's.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "model/model.h"
#include "model/network.h"

namespace bilmod {
namespace {

TEST(ModelRegistry, EveryNameResolvesToItsOwnModel) {
  std::set<std::string> names;
  for (const Model* model : registered_models()) {
    const std::optional<ModelKind> kind = parse_model_kind(model->name());
    ASSERT_TRUE(kind.has_value()) << model->name();
    EXPECT_EQ(model_kind_name(*kind), model->name());
    ModelSpec spec;
    spec.kind = *kind;
    EXPECT_EQ(&model_of(spec), model) << model->name();
    EXPECT_TRUE(names.insert(model->name()).second) << model->name() << " registered twice";
  }
  EXPECT_EQ(names, (std::set<std::string>{"bilinear", "factored", "mlp", "transformer", "clock-pizza"}));
  EXPECT_FALSE(parse_model_kind("lstm").has_value());
}

TEST(ModelRegistry, EachModelAnswersForItself) {
  ModelSpec spec;
  spec.mod_basis = 7;
  spec.hidden_dim = 5;
  spec.d_model = 8;
  spec.num_heads = 2;
  spec.d_mlp = 12;
  for (const Model* model : registered_models()) {
    spec.kind = *parse_model_kind(model->name());
    const ParameterLayout layout = make_parameter_layout(spec);
    ASSERT_FALSE(layout.parameters.empty()) << model->name();
    size_t total = 0;
    for (const ParameterInfo& info : layout.parameters) {
      EXPECT_EQ(info.offset, total) << info.name;
      total += info.size;
    }
    EXPECT_EQ(layout.total, total);
    EXPECT_EQ(describe_model(spec).rfind(std::string(model->name()) + " model with P = 7", 0), 0u)
        << describe_model(spec);
    // Only the bilinear lookup has rows a batch's pairs alone select; only the transformer has logits beyond P.
    const Model::SparseRows rows = model->sparse_rows(spec, layout);
    const bool bilinear = std::string(model->name()) == "bilinear",
               transformer = std::string(model->name()) == "transformer";
    EXPECT_EQ(rows.parameter != nullptr, bilinear) << model->name();
    if (rows.parameter) {
      EXPECT_EQ(rows.parameter->name, "bilinear.weight");
      EXPECT_EQ(static_cast<size_t>(rows.rows * rows.row_length), rows.parameter->size);
    }
    EXPECT_EQ(spec.num_logits(), transformer ? 8 : 7) << model->name();
    EXPECT_EQ(model_buffers(spec).empty(), !transformer && std::string(model->name()) != "clock-pizza")
        << model->name();  // the papers' unused causal masks
    EXPECT_GT(model->activation_bytes_per_pair(spec), spec.num_logits() * 4) << model->name();
    // A forward pass fills every logit of a batch.
    std::vector<float> params(layout.total);
    init_parameters(spec, layout, 3, params.data());
    const std::vector<int64_t> pairs = {0, 8, 48};
    BatchActivations act;
    network_forward(spec, layout, params.data(), pairs.data(), 3, &act);
    ASSERT_GE(act.logits.size(), static_cast<size_t>(3 * spec.num_logits()));
    double sum = 0;
    for (int64_t i = 0; i < 3 * spec.num_logits(); ++i) sum += std::fabs(act.logits[static_cast<size_t>(i)]);
    EXPECT_GT(sum, 0) << model->name();
  }
}

}  // namespace
}  // namespace bilmod
