// The sweep's grid: value lists and ranges, seeds, types, the expansion's order, names and refusals.
#include "sweep/sweep_spec.h"

#include <gtest/gtest.h>

namespace bilmod {
namespace {

using nlohmann::json;

TEST(SweepSpec, RangeIsInclusiveAndRoundedToTheDecimalsGiven) {
  GridAxis axis;
  ASSERT_TRUE(parse_grid_argument("train-frac=0.2:0.8:0.1", &axis));
  EXPECT_EQ(axis.key, "train_frac");
  const std::vector<double> want = {0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
  ASSERT_EQ(axis.values.size(), want.size());
  // Exact equality: 0.2 + 3 * 0.1 must be the double 0.5, so folder names and summary values are the typed ones.
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(axis.values[i].get<double>(), want[i]) << i;
}

TEST(SweepSpec, ListsTakeTheSettingsType) {
  GridAxis wd, hidden, model;
  ASSERT_TRUE(parse_grid_argument("weight-decay=0.1,0.3,1", &wd));
  EXPECT_TRUE(wd.values[2].is_number_float());
  EXPECT_EQ(wd.values[2].get<double>(), 1.0);
  ASSERT_TRUE(parse_grid_argument("hidden_dim=16:64:16", &hidden));
  ASSERT_EQ(hidden.values.size(), 4u);
  EXPECT_TRUE(hidden.values[3].is_number_integer());
  EXPECT_EQ(hidden.values[3].get<int64_t>(), 64);
  ASSERT_TRUE(parse_grid_argument("model=factored,mlp", &model));
  EXPECT_EQ(model.values[1], "mlp");
}

TEST(SweepSpec, BadGridArgumentsAreUsageErrors) {
  GridAxis axis;
  for (const char* bad : {"weight-decay", "weight-decay=", "no-such-flag=1", "hidden-dim=1.5", "hidden-dim=8:4:1",
                          "train-frac=0.2:0.8:0", "weight-decay=abc", "train-frac=0.2:0.8"}) {
    const Status s = parse_grid_argument(bad, &axis);
    EXPECT_FALSE(s) << bad;
    EXPECT_EQ(s.code(), ExitCode::kUsage) << bad;
  }
}

TEST(SweepSpec, SeedListsAndRanges) {
  std::vector<json> seeds;
  ASSERT_TRUE(parse_seed_list("0-2,7", &seeds));
  ASSERT_EQ(seeds.size(), 4u);
  EXPECT_EQ(seeds[3].get<uint64_t>(), 7u);
  EXPECT_FALSE(parse_seed_list("3-1", &seeds));
  EXPECT_FALSE(parse_seed_list("-1", &seeds));
  EXPECT_FALSE(parse_seed_list("a", &seeds));
}

SweepSpec two_by_two() {
  SweepSpec spec;
  spec.name = "demo";
  GridAxis wd, seeds;
  EXPECT_TRUE(parse_grid_argument("weight-decay=0.1,1", &wd));
  EXPECT_TRUE(parse_seed_list("0-1", &seeds.values));
  seeds.key = "seed";
  spec.axes = {wd, seeds};
  spec.fixed = {{"model", "factored"}, {"mod_basis", 11}, {"epochs", 5}, {"train_frac", 0.5}};
  return spec;
}

TEST(SweepSpec, ExpansionIsRowMajorWithTheLastAxisFastest) {
  std::vector<SweepRun> runs;
  ASSERT_TRUE(expand_sweep(two_by_two(), "out", &runs));
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].key, "weight-decay=0.1_seed=0");
  EXPECT_EQ(runs[1].key, "weight-decay=0.1_seed=1");
  EXPECT_EQ(runs[2].key, "weight-decay=1_seed=0");
  EXPECT_EQ(runs[3].config.weight_decay, 1.0);
  EXPECT_EQ(runs[3].config.seed, 1u);
  // Fixed settings reach every run; the sweep's own settings are per run.
  for (const SweepRun& r : runs) {
    EXPECT_EQ(r.config.model, ModelKind::kFactored);
    EXPECT_EQ(r.config.mod_basis, 11);
    EXPECT_EQ(r.config.threads, 1);
    EXPECT_EQ(r.config.group, "demo");
    EXPECT_EQ(r.config.checkpoint_dir, "out/" + r.key + "/checkpoints");
    EXPECT_EQ(r.config.run_name, "demo." + r.key);
  }
}

TEST(SweepSpec, APresetGivesEveryRunItsRecipeUnderTheSweptAndFixedSettings) {
  SweepSpec spec;
  spec.name = "pizza";
  spec.fixed = {{"preset", "zhong2023"}, {"epochs", 30}};
  GridAxis alpha;
  alpha.key = "attention_rate";
  alpha.values = {0.0, 1.0};
  spec.axes = {alpha};
  std::vector<SweepRun> runs;
  ASSERT_TRUE(expand_sweep(spec, "out", &runs));
  ASSERT_EQ(runs.size(), 2u);
  for (const SweepRun& r : runs) {
    EXPECT_EQ(r.config.model, ModelKind::kClockPizza);  // the preset's
    EXPECT_EQ(r.config.mod_basis, 59);
    EXPECT_EQ(r.config.epochs, 30);  // fixed: over the preset
    EXPECT_EQ(r.config.threads, 1);  // the sweep's own
    EXPECT_EQ(r.config.checkpoint_dir, "out/" + r.key + "/checkpoints");
  }
  EXPECT_EQ(runs[0].config.attention_rate, 0.0);  // swept: over the preset
  EXPECT_EQ(runs[1].config.attention_rate, 1.0);
}

TEST(SweepSpec, RefusesContradictionsBeforeAnyWork) {
  std::vector<SweepRun> runs;
  SweepSpec fixed_and_swept = two_by_two();
  fixed_and_swept.fixed["weight_decay"] = 0.5;
  EXPECT_EQ(expand_sweep(fixed_and_swept, "out", &runs).code(), ExitCode::kUsage);
  SweepSpec per_run_setting = two_by_two();
  per_run_setting.fixed["checkpoint_dir"] = "x";
  EXPECT_EQ(expand_sweep(per_run_setting, "out", &runs).code(), ExitCode::kUsage);
  SweepSpec twice = two_by_two();
  twice.axes.push_back(twice.axes[0]);
  EXPECT_EQ(expand_sweep(twice, "out", &runs).code(), ExitCode::kUsage);
  SweepSpec invalid_run = two_by_two();
  invalid_run.fixed["train_frac"] = 1.5;  // every run's config is validated like bilmod train's
  const Status s = expand_sweep(invalid_run, "out", &runs);
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_NE(s.message().find("--train-frac"), std::string::npos) << s.message();
  SweepSpec project_swept = two_by_two();
  GridAxis projects{"project", {"a", "b"}};
  project_swept.axes.push_back(projects);
  EXPECT_EQ(expand_sweep(project_swept, "out", &runs).code(), ExitCode::kUsage);
}

}  // namespace
}  // namespace bilmod
