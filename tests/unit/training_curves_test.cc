// visualize-checkpoint's training curves are read from the tracking folder training wrote them to: the folder is
// found by the one resolver (tracking/tracking_folder.h) for every way of naming it, XDG_CACHE_HOME included.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "analysis/training_curves.h"
#include "tracking/tracking_folder.h"
#include "tracking/trackio_store.h"

namespace bilmod {
namespace {

namespace fs = std::filesystem;

// Each variable the resolver reads, set to its own folder or unset.
void set_env(const char* name, const fs::path& value) {
  if (value.empty())
    unsetenv(name);
  else
    setenv(name, value.c_str(), 1);
}

TEST(TrainingCurves, ReadFromTheFolderTrainingWroteTo) {
  const fs::path root = fs::temp_directory_path() / ("bilmod-curves-test-" + std::to_string(::getpid()));
  fs::remove_all(root);
  struct Case {
    const char* what;
    fs::path trackio_dir, hf_home, xdg_cache_home;
  };
  const Case cases[] = {
      {"$XDG_CACHE_HOME/huggingface/trackio", {}, {}, root / "xdg"},
      {"$HF_HOME/trackio", {}, root / "hf", root / "xdg-unused"},
      {"$TRACKIO_DIR", root / "trackio", root / "hf-unused", root / "xdg-unused"},
      {"~/.cache/huggingface/trackio", {}, {}, {}},
  };
  int i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    set_env("HOME", root / ("home" + std::to_string(i++)));
    set_env("TRACKIO_DIR", c.trackio_dir);
    set_env("HF_HOME", c.hf_home);
    set_env("XDG_CACHE_HOME", c.xdg_cache_home);
    // What training does: the store in the resolved folder, one epoch row.
    TrainingState state;
    RunConfig config;
    config.project = "curves";
    state.set_config(config);
    state.run_id = std::string(32, 'c');
    const std::string dir = resolve_tracking_dir(state.config().tracking_dir);
    std::unique_ptr<TrackioStore> store;
    ASSERT_TRUE(TrackioStore::open_for_writing(dir, state.config().project, &store));
    RunStart start;
    start.run_id = state.run_id;
    start.config = {{"model", "factored"}};
    std::string name;
    ASSERT_TRUE(store->begin_run(start, &name));
    const std::vector<MetricsRow> rows = {{1, trackio_timestamp(std::chrono::system_clock::now()),
                                           trackio_metrics_json({{"epoch", 1}, {"val/accuracy", 0.25}}),
                                           std::string(32, 'd')}};
    ASSERT_TRUE(store->append_rows(state.run_id, name, rows));
    store.reset();

    TrainingCurves curves;
    const Status read = read_training_curves(state, &curves);
    ASSERT_TRUE(read) << read.message();
    EXPECT_EQ(fs::path(curves.database).parent_path(), fs::path(dir));
    ASSERT_EQ(curves.epoch.size(), 1u);
    EXPECT_EQ(curves.metrics.at("val/accuracy").at(0), 0.25);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace bilmod
