// The tracking store's pieces without training: the row format (timestamps, non-finite numbers), the background
// writer's promise (rows a failing store refuses are kept and retried, in order, none doubled), and the store's
// round trip through SQLite, its locking between writers, and its refusal of files that are not trackio stores.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "tracking/row_writer.h"
#include "tracking/run_export.h"
#include "tracking/trackio_row.h"
#include "tracking/trackio_store.h"

namespace bilmod {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("bilmod-tracking-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(TrackioRow, TimestampHasMicrosecondsAndUtcOffset) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::microseconds(1795969944123456LL));
  const std::string text = trackio_timestamp(time);
  EXPECT_EQ(text, "2026-11-29T16:32:24.123456+00:00");
  EXPECT_NEAR(parse_trackio_timestamp(text), 1795969944.123456, 1e-6);
  EXPECT_NEAR(parse_trackio_timestamp("2026-11-29T16:32:24+00:00"), 1795969944.0, 1e-9);
  EXPECT_NEAR(parse_trackio_timestamp("2026-11-29T18:32:24.5+02:00"), 1795969944.5, 1e-9);
  EXPECT_TRUE(std::isnan(parse_trackio_timestamp("yesterday")));
}

TEST(TrackioRow, NonFiniteNumbersAreSpelledAsTrackioSpellsThem) {
  const double inf = std::numeric_limits<double>::infinity();
  const nlohmann::json metrics = {{"a", std::nan("")}, {"b", inf}, {"c", -inf}, {"d", 0.25}, {"epoch", 3}};
  const std::string text = trackio_metrics_json(metrics);
  const nlohmann::json stored = nlohmann::json::parse(text);
  EXPECT_EQ(stored["a"], "NaN");
  EXPECT_EQ(stored["b"], "Infinity");
  EXPECT_EQ(stored["c"], "-Infinity");
  EXPECT_EQ(stored["d"], 0.25);
  EXPECT_TRUE(stored["epoch"].is_number_integer());
  const nlohmann::json back = parse_trackio_metrics(text);
  EXPECT_TRUE(std::isnan(back["a"].get<double>()));
  EXPECT_EQ(back["b"].get<double>(), inf);
  EXPECT_EQ(back["c"].get<double>(), -inf);
  // Python's json.dumps default writes bare NaN / Infinity: read those too.
  const nlohmann::json bare = parse_trackio_metrics(R"({"x": NaN, "y": Infinity, "z": -Infinity, "w": 1.5})");
  EXPECT_TRUE(std::isnan(bare["x"].get<double>()));
  EXPECT_EQ(bare["y"].get<double>(), inf);
  EXPECT_EQ(bare["z"].get<double>(), -inf);
  EXPECT_EQ(bare["w"].get<double>(), 1.5);
  EXPECT_TRUE(parse_trackio_metrics("not json").empty());
}

// A sink that refuses the first `failures` writes, as a full disk would, and records what it accepted.
class FlakySink : public RowSink {
 public:
  explicit FlakySink(int failures) : failures_(failures) {}
  Status write(const std::vector<MetricsRow>& rows) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++attempts_;
    if (failures_ > 0) {
      --failures_;
      return Status::runtime("disk full");
    }
    accepted_.insert(accepted_.end(), rows.begin(), rows.end());
    return Status::ok();
  }
  std::vector<MetricsRow> accepted() {
    std::lock_guard<std::mutex> lock(mutex_);
    return accepted_;
  }
  int attempts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return attempts_;
  }

 private:
  std::mutex mutex_;
  int failures_, attempts_ = 0;
  std::vector<MetricsRow> accepted_;
};

TEST(BackgroundRowWriter, KeepsAndRetriesRowsAFailingStoreRefused) {
  FlakySink sink(3);
  BackgroundRowWriter writer(&sink, std::chrono::milliseconds(20));
  const int64_t kRows = 5000;
  for (int64_t step = 1; step <= kRows; ++step) {
    writer.add_scalar(step, "train/batch_loss", 1.0 / static_cast<double>(step));
    if (step == 100) {
      EXPECT_FALSE(writer.flush());  // the first attempts fail ...
    }
  }
  const std::optional<Status> failure = writer.take_new_failure();
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->message().find("disk full"), std::string::npos);
  EXPECT_FALSE(writer.take_new_failure().has_value()) << "a failure is reported once";
  EXPECT_EQ(writer.stop(std::chrono::milliseconds(5000)), 0u) << "... and the rows are written once the store recovers";
  size_t late = 0;
  EXPECT_TRUE(writer.take_recovery(&late));
  const std::vector<MetricsRow> rows = sink.accepted();
  ASSERT_EQ(rows.size(), static_cast<size_t>(kRows));
  std::set<std::string> log_ids;
  for (int64_t i = 0; i < kRows; ++i) {
    ASSERT_EQ(rows[i].step, i + 1) << "rows out of order or doubled at index " << i;
    const nlohmann::json m = nlohmann::json::parse(rows[i].metrics);
    ASSERT_EQ(m["train/batch_loss"].get<double>(), 1.0 / static_cast<double>(i + 1));
    ASSERT_EQ(rows[i].log_id.size(), 32u);
    log_ids.insert(rows[i].log_id);
  }
  EXPECT_EQ(log_ids.size(), static_cast<size_t>(kRows)) << "log ids must be unique";
  EXPECT_GE(sink.attempts(), 4);
}

TEST(BackgroundRowWriter, StopGivesUpAfterItsPatienceAndCountsWhatIsLeft) {
  FlakySink sink(1000000);
  BackgroundRowWriter writer(&sink, std::chrono::milliseconds(10));
  for (int64_t step = 1; step <= 10; ++step) writer.add_scalar(step, "train/batch_loss", 0.5);
  EXPECT_EQ(writer.stop(std::chrono::milliseconds(50)), 10u);
}

TEST(TrackioStore, RoundTripAndResumeDropsTheStepsItRedoes) {
  const fs::path dir = fresh_dir("roundtrip");
  std::unique_ptr<TrackioStore> store;
  ASSERT_TRUE(TrackioStore::open_for_writing(dir.string(), "demo", &store));
  RunStart start;
  start.run_id = std::string(32, 'a');
  start.config = {{"model", "factored"}, {"mod_basis", 7}, {"epochs", 2}};
  std::string name;
  ASSERT_TRUE(store->begin_run(start, &name));
  EXPECT_NE(name.rfind("-1"), std::string::npos) << name;
  std::vector<MetricsRow> rows;
  for (int64_t step = 0; step <= 10; ++step)
    rows.push_back({step, trackio_timestamp(std::chrono::system_clock::now()),
                    trackio_metrics_json({{"train/batch_loss", 0.1 * static_cast<double>(step)}}),
                    std::string(31, 'b') + static_cast<char>('a' + step)});
  ASSERT_TRUE(store->append_rows(start.run_id, name, rows));
  ASSERT_TRUE(store->append_rows(start.run_id, name, rows)) << "a retried batch is ignored, not doubled";
  std::vector<StoredRow> back;
  ASSERT_TRUE(store->read_rows(start.run_id, 0, &back));
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(back[i].step, rows[i].step);

  // A resume from step 6 keeps the name and removes steps 7..10.
  start.run_name = name;
  start.keep_steps_up_to = 6;
  std::string resumed_name;
  ASSERT_TRUE(store->begin_run(start, &resumed_name));
  EXPECT_EQ(resumed_name, name);
  ASSERT_TRUE(store->read_rows(start.run_id, 0, &back));
  ASSERT_EQ(back.size(), 7u);
  EXPECT_EQ(back.back().step, 6);

  StoredRun run;
  ASSERT_TRUE(store->find_run(name, &run));
  EXPECT_EQ(run.run_id, start.run_id);
  EXPECT_EQ(run.config["_Group"], nullptr);
  EXPECT_EQ(run.config["model"], "factored");
  EXPECT_FALSE(store->find_run("no-such-run", &run));
  fs::remove_all(dir);
}

TEST(TrackioStore, RefusesAFileThatIsNotSqliteAndLeavesItUntouched) {
  const fs::path dir = fresh_dir("notsqlite");
  const std::string junk = "this is not a database, and must stay exactly as it is\n";
  std::ofstream(dir / "demo.db") << junk;
  std::unique_ptr<TrackioStore> store;
  const Status s = TrackioStore::open_for_writing(dir.string(), "demo", &store);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("not a SQLite database"), std::string::npos) << s.message();
  std::ifstream in(dir / "demo.db");
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, junk);
  fs::remove_all(dir);
}

TEST(TrackioStore, RefusesAProjectNameThatCouldLeaveTheFolder) {
  std::unique_ptr<TrackioStore> store;
  for (const char* bad : {"../escape", "a/b", "", "dot.name"}) {
    const Status s = TrackioStore::open_for_reading(fs::temp_directory_path().string(), bad, &store);
    EXPECT_EQ(s.code(), ExitCode::kUsage) << bad;
  }
}

TEST(TrackioStore, ConcurrentWritersLoseNoRow) {
  const fs::path dir = fresh_dir("concurrent");
  constexpr int kWriters = 4, kBatches = 50, kRowsPerBatch = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      // Each writer has its own connection, as separate processes would.
      std::unique_ptr<TrackioStore> store;
      if (!TrackioStore::open_for_writing(dir.string(), "demo", &store)) return void(++failures);
      RunStart start;
      start.run_id = std::string(31, '0') + static_cast<char>('0' + w);
      std::string name;
      if (!store->begin_run(start, &name)) return void(++failures);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<MetricsRow> rows;
        for (int r = 0; r < kRowsPerBatch; ++r) {
          const int64_t step = b * kRowsPerBatch + r + 1;
          char log_id[33];
          std::snprintf(log_id, sizeof log_id, "%08x%024llx", w, static_cast<unsigned long long>(step));
          rows.push_back({step, trackio_timestamp(std::chrono::system_clock::now()), "{\"x\":1}", log_id});
        }
        if (Status s = store->append_rows(start.run_id, name, rows); !s) {
          ADD_FAILURE() << s.message();
          return void(++failures);
        }
      }
    });
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  std::unique_ptr<TrackioStore> reader;
  ASSERT_TRUE(TrackioStore::open_for_reading(dir.string(), "demo", &reader));
  std::vector<StoredRun> runs;
  ASSERT_TRUE(reader->list_runs(&runs));
  ASSERT_EQ(runs.size(), static_cast<size_t>(kWriters));
  for (const StoredRun& run : runs) EXPECT_EQ(run.rows, kBatches * kRowsPerBatch) << run.run_id;
  fs::remove_all(dir);
}

TEST(RunExport, MergesRowsOfOneStepAndWritesEveryMetric) {
  std::vector<StoredRow> rows = {
      {1, 0, "t0", {{"epoch", 0}, {"val/accuracy", 0.5}}},
      {2, 1, "t1", {{"train/batch_loss", 2.5}}},
      {3, 1, "t1b", {{"epoch", 1}, {"val/accuracy", std::nan("")}}},
  };
  const std::string csv = export_csv(rows);
  EXPECT_EQ(csv,
            "step,timestamp,epoch,train/batch_loss,val/accuracy\n"
            "0,t0,0,,0.5\n"
            "1,t1b,1,2.5,NaN\n");
  const std::string jsonl = export_jsonl(rows);
  EXPECT_EQ(jsonl,
            "{\"step\":0,\"timestamp\":\"t0\",\"epoch\":0,\"val/accuracy\":0.5}\n"
            "{\"step\":1,\"timestamp\":\"t1b\",\"epoch\":1,\"train/batch_loss\":2.5,\"val/accuracy\":\"NaN\"}\n");
}

}  // namespace
}  // namespace bilmod
