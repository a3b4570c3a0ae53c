// What a sweep knows about one run, on disk beside its checkpoints:
//   DIR/RUN/run.json       the run's settings (written before it starts; a re-run with other settings is refused)
//   DIR/RUN/progress.json  milestones so far, written after every checkpoint, so a resumed run keeps them
//   DIR/RUN/result.json    the outcome, written once at the end: a run with a finished result is never run again
// All three are written atomically (temporary file + rename).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sweep/sweep_spec.h"
#include "train/trainer.h"
#include "util/status.h"

namespace bilmod {

inline constexpr const char* kRunFile = "run.json";
inline constexpr const char* kProgressFile = "progress.json";
inline constexpr const char* kResultFile = "result.json";

// DIR/RUN/run.json: what the worker process needs to run it.
struct RunSpec {
  int64_t index = 0;
  std::string key;
  nlohmann::json settings;     // the swept values
  RunConfig config;            // without resume_from: the worker decides that from the folder
  double stop_at_val_acc = 0;  // 0: off
  int64_t patience = 1;
  bool tracking_inbox = false;  // write trackio's JSONL inbox instead of the SQLite store (sweep/tracking_inbox.h)
};
nlohmann::json to_json(const RunSpec& spec);
Status run_spec_from_json(const nlohmann::json& json, RunSpec* spec);

// Milestones: the first epoch each accuracy reached kMilestoneAccuracy, and the early-stop streak.
struct RunProgress {
  int64_t epoch = 0;  // the checkpoint these numbers belong to
  std::optional<int64_t> val_milestone_epoch;
  std::optional<int64_t> train_milestone_epoch;
  int64_t streak = 0;       // consecutive evaluations with val accuracy >= stop_at_val_acc
  double wall_seconds = 0;  // training time of every attempt up to that checkpoint
};
nlohmann::json to_json(const RunProgress& progress);
Status run_progress_from_json(const nlohmann::json& json, RunProgress* progress);

// kInterrupted: stopped by a signal with its checkpoint written; the next run of the sweep resumes it.
enum class RunStatus { kFinished, kFailed, kInterrupted };
const char* run_status_name(RunStatus status);

// DIR/RUN/result.json, and one row of the summary.
struct RunResult {
  int64_t index = 0;
  std::string key;
  nlohmann::json settings = nlohmann::json::object();
  RunStatus status = RunStatus::kFailed;
  bool stopped_early = false;
  int64_t epochs = 0;  // epochs trained
  int64_t steps = 0;
  nlohmann::json metrics = nlohmann::json::object();  // the last evaluation
  std::optional<int64_t> val_milestone_epoch;
  std::optional<int64_t> train_milestone_epoch;
  double wall_seconds = 0;
  std::string run_id;
  std::string message;  // why it failed
};
nlohmann::json to_json(const RunResult& result);
Status run_result_from_json(const nlohmann::json& json, RunResult* result);

// Reads and parses a JSON file; a missing file is reported as such through `exists`.
Status read_json_file(const std::string& path, nlohmann::json* json, bool* exists = nullptr);
Status write_json_file(const std::string& path, const nlohmann::json& json);

// Inside the worker: records milestones at each evaluation, saves them with each checkpoint, and asks the trainer
// to stop once validation accuracy has stayed at or above the threshold for `patience` evaluations.
class MilestoneObserver : public TrainingObserver {
 public:
  MilestoneObserver(std::string run_dir, double stop_at_val_acc, int64_t patience, RunProgress resumed);
  Status on_start(const TrainingState& state) override;
  void on_evaluation(const TrainingState& state, const nlohmann::json& metrics) override;
  void on_checkpoint(const TrainingState& state, const std::string& path) override;
  bool stop_requested() const override { return stop_; }
  // The milestones and time so far (wall time includes this attempt up to now).
  RunProgress progress() const;
  // A failure to save progress.json (reported at the end: an observer cannot fail a step).
  const Status& save_error() const { return save_error_; }

 private:
  std::string run_dir_;
  double stop_at_val_acc_;
  int64_t patience_;
  RunProgress progress_;
  double wall_before_ = 0;
  double start_time_ = 0;
  bool stop_ = false;
  Status save_error_;
};

}  // namespace bilmod
