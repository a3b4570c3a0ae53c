// The settings that hold a name (--model, --operation, ...): parsed once into their enums, saved as the same names.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "config/run_config.h"
#include "config/training_state.h"

namespace bilmod {
namespace {

// Every name of every named setting, as the command line and a saved config spell it.
const std::map<std::string, std::vector<std::string>>& all_names() {
  static const std::map<std::string, std::vector<std::string>> names = {
      {"operation", operation_names()},
      {"model", {"bilinear", "factored", "mlp", "transformer"}},
      {"mlp", {"relu", "gelu", "bilinear"}},
      {"activation", {"relu", "quad", "none"}},
      {"split", {"bilmod", "torch"}},
      {"optimizer", {"adamw", "sgd"}},
      {"lr_schedule", {"constant", "cosine"}},
      {"warmup_convention", {"bilmod", "lambdalr"}},
      {"grokfast", {"none", "ema", "ma"}},
      {"loss", {"cross_entropy", "stablemax", "mse"}},
      {"loss_precision", {"float32", "float64"}}};
  return names;
}

TEST(NamedSettings, EveryNameParsesAndIsSavedAsItself) {
  ASSERT_EQ(named_settings().size(), all_names().size());
  for (const std::string& key : named_settings()) {
    ASSERT_TRUE(all_names().count(key)) << key;
    for (const std::string& name : all_names().at(key)) {
      RunConfig c;
      ASSERT_TRUE(parse_named_setting(key, name, &c).is_ok()) << key << " " << name;
      const nlohmann::json saved = to_json(c);
      EXPECT_EQ(saved.at(key), name) << key;
      RunConfig again;
      ASSERT_TRUE(config_from_json(saved, &again).is_ok()) << key << " " << name;
      EXPECT_EQ(to_json(again), saved) << key << " " << name;
    }
  }
}

TEST(NamedSettings, TheDefaultsAreSavedAsBeforeTheyWereEnums) {
  const nlohmann::json saved = to_json(RunConfig{});
  const nlohmann::json expected = {{"operation", "add"},
                                   {"model", "bilinear"},
                                   {"mlp", "relu"},
                                   {"activation", "relu"},
                                   {"split", "bilmod"},
                                   {"optimizer", "adamw"},
                                   {"lr_schedule", "constant"},
                                   {"warmup_convention", "bilmod"},
                                   {"grokfast", "none"},
                                   {"loss", "cross_entropy"},
                                   {"loss_precision", "float32"}};
  for (const auto& [key, value] : expected.items()) EXPECT_EQ(saved.at(key), value) << key;
  EXPECT_EQ(saved.size(), 57u);  // every setting: the 53 of before and clock-pizza's four
}

TEST(NamedSettings, AnUnknownNameIsAUsageErrorThatNamesTheChoices) {
  const std::map<std::string, std::string> expected = {
      {"model", "--model 'foo' is not known: use bilinear, factored, mlp, transformer or clock-pizza"},
      {"mlp", "--mlp 'foo' is not known: use relu, gelu or bilinear"},
      {"activation", "--activation 'foo' is not known: use relu, quad or none"},
      {"operation",
       "--operation 'foo' is not known: use one of add, sub, mul, div, x2+y2, x2+xy+y2, x2+xy+y2+x, "
       "x3+xy, x3+xy2+y"},
      {"split", "--split 'foo' is not known: use bilmod (its own shuffle) or torch (the upstream's torch.randperm)"},
      {"optimizer", "--optimizer 'foo' is not known: use adamw or sgd"},
      {"lr_schedule", "--lr-schedule 'foo' is not known: use constant or cosine"},
      {"warmup_convention", "--warmup-convention 'foo' is not known: use bilmod or lambdalr"},
      {"grokfast", "--grokfast 'foo' is not known: use none, ema or ma"},
      {"loss", "--loss 'foo' is not known: use cross_entropy, stablemax or mse"},
      {"loss_precision", "--loss-precision 'foo' is not known: use float32 or float64"}};
  for (const std::string& key : named_settings()) {
    RunConfig c;
    const Status s = parse_named_setting(key, "foo", &c);
    EXPECT_EQ(s.code(), ExitCode::kUsage) << key;
    EXPECT_EQ(s.message(), expected.at(key));
    EXPECT_EQ(to_json(c), to_json(RunConfig{})) << key << ": an unknown name changed the config";
  }
}

TEST(NamedSettings, ASavedConfigWithAnUnknownNameIsRefusedWhereItIsRead) {
  RunConfig c;
  nlohmann::json saved = to_json(RunConfig{});
  saved["model"] = "foo";
  Status s = config_from_json(saved, &c);
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_EQ(s.message(), "--model 'foo' is not known: use bilinear, factored, mlp, transformer or clock-pizza");
  // Two unknown names: the first in validate()'s order (operation before model).
  saved["operation"] = "pow";
  s = config_from_json(saved, &c);
  EXPECT_EQ(s.message().rfind("--operation 'pow' is not known", 0), 0u) << s.message();
  // A value of the wrong JSON type is reported first, as a runtime failure.
  saved["activation"] = 3;
  s = config_from_json(saved, &c);
  EXPECT_EQ(s.code(), ExitCode::kRuntime);
  EXPECT_EQ(s.message(), "config value of 'activation' has the wrong type: 3");
}

TEST(NamedSettings, CombinationsAreCheckedOnTheEnums) {
  RunConfig c;
  c.model = ModelKind::kFactored;
  c.activation = Activation::kQuad;
  EXPECT_EQ(c.validate().message(),
            "--activation quad applies to --model mlp only (--model factored takes no --activation)");
  c.activation = Activation::kNone;
  EXPECT_EQ(c.validate().message(),
            "--activation none applies to --model bilinear only (--model factored takes no --activation)");
  c.model = ModelKind::kTransformer;
  c.activation = Activation::kRelu;
  c.mlp = TransformerMlp::kGelu;
  EXPECT_TRUE(c.validate().is_ok()) << c.validate().message();
  c.model = ModelKind::kMlp;
  EXPECT_EQ(c.validate().message(),
            "--mlp gelu applies to --model transformer or clock-pizza only (--model mlp takes no --mlp)");
  c.mlp = TransformerMlp::kRelu;
  c.activation = Activation::kNone;
  EXPECT_EQ(c.validate().message(),
            "--activation none applies to --model bilinear only (--model mlp takes relu or quad)");
  c.activation = Activation::kRelu;
  c.bias = false;
  EXPECT_EQ(c.validate().message(), "--no-bias applies to --model bilinear only");
  c.bias = true;
  c.model = ModelKind::kTransformer;
  c.mod_basis = 4099;
  EXPECT_EQ(c.validate().message(), "--model transformer takes --mod-basis up to 4096, got 4099");
}

// A state's model spec and parameter layout are its config's: set with it, never on their own.
TEST(TrainingStateSettings, SpecAndLayoutFollowTheConfig) {
  TrainingState state;
  EXPECT_EQ(describe_model(state.spec()), describe_model(RunConfig{}.model_spec()));
  EXPECT_EQ(state.layout().total, make_parameter_layout(RunConfig{}.model_spec()).total);
  RunConfig c;
  c.model = ModelKind::kFactored;
  c.mod_basis = 11;
  c.hidden_dim = 6;
  state.set_config(c);
  EXPECT_EQ(state.config().model, ModelKind::kFactored);
  EXPECT_EQ(describe_model(state.spec()), describe_model(c.model_spec()));
  const ParameterLayout expected = make_parameter_layout(c.model_spec());
  ASSERT_EQ(state.layout().parameters.size(), expected.parameters.size());
  for (size_t i = 0; i < expected.parameters.size(); ++i) {
    EXPECT_EQ(state.layout().parameters[i].name, expected.parameters[i].name);
    EXPECT_EQ(state.layout().parameters[i].torch_shape, expected.parameters[i].torch_shape);
  }
  EXPECT_EQ(state.layout().total, expected.total);
}

}  // namespace
}  // namespace bilmod
