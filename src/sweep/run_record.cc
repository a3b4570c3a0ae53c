#include "sweep/run_record.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/atomic_file.h"
#include "util/bounded_json.h"
#include "util/read_file.h"

namespace bilmod {

using nlohmann::json;

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

json optional_epoch(const std::optional<int64_t>& epoch) { return epoch ? json(*epoch) : json(nullptr); }

Status read_optional_epoch(const json& j, const char* name, std::optional<int64_t>* out) {
  if (!j.contains(name) || j.at(name).is_null()) {
    out->reset();
    return Status::ok();
  }
  if (!j.at(name).is_number_integer()) return Status::runtime(std::string("'") + name + "' is not an epoch number");
  *out = j.at(name).get<int64_t>();
  return Status::ok();
}

}  // namespace

json to_json(const RunSpec& spec) {
  return {{"format", "bilmod-sweep-run"},
          {"format_version", 1},
          {"index", spec.index},
          {"key", spec.key},
          {"settings", spec.settings},
          {"config", to_json(spec.config)},
          {"stop_at_val_acc", spec.stop_at_val_acc},
          {"patience", spec.patience},
          {"tracking", spec.tracking_inbox ? "inbox" : "store"}};
}

Status run_spec_from_json(const json& j, RunSpec* spec) {
  try {
    if (j.value("format", "") != "bilmod-sweep-run" || j.value("format_version", 0) != 1)
      return Status::runtime("not a bilmod-sweep-run file of version 1");
    RunSpec out;
    out.index = j.at("index").get<int64_t>();
    out.key = j.at("key").get<std::string>();
    out.settings = j.at("settings");
    // A name no setting knows is a usage Status; in a file it is a run-time failure, as any other bad content.
    if (Status s = config_from_json(j.at("config"), &out.config); !s) return Status::runtime(s.message());
    out.stop_at_val_acc = j.at("stop_at_val_acc").get<double>();
    out.patience = j.at("patience").get<int64_t>();
    out.tracking_inbox = j.value("tracking", "store") == "inbox";
    *spec = std::move(out);
    return Status::ok();
  } catch (const json::exception& e) {
    return Status::runtime(std::string("bad run file: ") + e.what());
  }
}

json to_json(const RunProgress& p) {
  return {{"epoch", p.epoch},
          {"val_milestone_epoch", optional_epoch(p.val_milestone_epoch)},
          {"train_milestone_epoch", optional_epoch(p.train_milestone_epoch)},
          {"streak", p.streak},
          {"wall_seconds", p.wall_seconds}};
}

Status run_progress_from_json(const json& j, RunProgress* p) {
  try {
    RunProgress out;
    out.epoch = j.at("epoch").get<int64_t>();
    BILMOD_TRY(read_optional_epoch(j, "val_milestone_epoch", &out.val_milestone_epoch));
    BILMOD_TRY(read_optional_epoch(j, "train_milestone_epoch", &out.train_milestone_epoch));
    out.streak = j.at("streak").get<int64_t>();
    out.wall_seconds = j.at("wall_seconds").get<double>();
    *p = out;
    return Status::ok();
  } catch (const json::exception& e) {
    return Status::runtime(std::string("bad progress file: ") + e.what());
  }
}

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kFinished:
      return "finished";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kInterrupted:
      return "interrupted";
  }
  return "failed";
}

json to_json(const RunResult& r) {
  return {{"index", r.index},
          {"key", r.key},
          {"settings", r.settings},
          {"status", run_status_name(r.status)},
          {"stopped_early", r.stopped_early},
          {"epochs", r.epochs},
          {"steps", r.steps},
          {"metrics", r.metrics},
          {"val_milestone_epoch", optional_epoch(r.val_milestone_epoch)},
          {"train_milestone_epoch", optional_epoch(r.train_milestone_epoch)},
          {"wall_seconds", r.wall_seconds},
          {"run_id", r.run_id},
          {"message", r.message}};
}

Status run_result_from_json(const json& j, RunResult* r) {
  try {
    RunResult out;
    out.index = j.at("index").get<int64_t>();
    out.key = j.at("key").get<std::string>();
    out.settings = j.at("settings");
    const std::string status = j.at("status").get<std::string>();
    if (status == "finished")
      out.status = RunStatus::kFinished;
    else if (status == "failed")
      out.status = RunStatus::kFailed;
    else if (status == "interrupted")
      out.status = RunStatus::kInterrupted;
    else
      return Status::runtime("bad result status '" + status + "'");
    out.stopped_early = j.at("stopped_early").get<bool>();
    out.epochs = j.at("epochs").get<int64_t>();
    out.steps = j.at("steps").get<int64_t>();
    out.metrics = j.at("metrics");
    BILMOD_TRY(read_optional_epoch(j, "val_milestone_epoch", &out.val_milestone_epoch));
    BILMOD_TRY(read_optional_epoch(j, "train_milestone_epoch", &out.train_milestone_epoch));
    out.wall_seconds = j.at("wall_seconds").get<double>();
    out.run_id = j.at("run_id").get<std::string>();
    out.message = j.at("message").get<std::string>();
    *r = std::move(out);
    return Status::ok();
  } catch (const json::exception& e) {
    return Status::runtime(std::string("bad result file: ") + e.what());
  }
}

Status read_json_file(const std::string& path, json* out, bool* exists) {
  std::error_code ec;
  const bool present = std::filesystem::exists(path, ec);
  if (exists) *exists = present;
  if (!present) return Status::runtime(path + " does not exist");
  std::string text;
  BILMOD_TRY(read_file_text(path, "JSON file", &text));
  try {
    *out = parse_json_bounded(text, kTrackingJsonDepth);
    if (out->is_discarded()) return Status::runtime(path + " is not valid JSON (or nests deeper than 64 levels)");
  } catch (const json::exception& e) {
    return Status::runtime(path + " is not valid JSON: " + e.what());
  }
  return Status::ok();
}

Status write_json_file(const std::string& path, const json& j) { return write_file_atomically(path, j.dump(2) + "\n"); }

MilestoneObserver::MilestoneObserver(std::string run_dir, double stop_at_val_acc, int64_t patience, RunProgress resumed)
    : run_dir_(std::move(run_dir)),
      stop_at_val_acc_(stop_at_val_acc),
      patience_(patience),
      progress_(resumed),
      wall_before_(resumed.wall_seconds) {}

Status MilestoneObserver::on_start(const TrainingState& state) {
  start_time_ = now_seconds();
  return Status::ok();
}

void MilestoneObserver::on_evaluation(const TrainingState& state, const json& metrics) {
  const int64_t epoch = metrics.value("epoch", state.epoch);
  const double val = metrics.value("val/accuracy", 0.0), train = metrics.value("train/accuracy", 0.0);
  if (!progress_.val_milestone_epoch && val >= kMilestoneAccuracy) progress_.val_milestone_epoch = epoch;
  if (!progress_.train_milestone_epoch && train >= kMilestoneAccuracy) progress_.train_milestone_epoch = epoch;
  progress_.epoch = epoch;
  if (stop_at_val_acc_ > 0) {
    progress_.streak = val >= stop_at_val_acc_ ? progress_.streak + 1 : 0;
    // The initial evaluation (epoch 0) never ends a run: a stop needs training to have happened.
    stop_ = epoch > 0 && progress_.streak >= patience_;
  }
}

RunProgress MilestoneObserver::progress() const {
  RunProgress p = progress_;
  p.wall_seconds = wall_before_ + (start_time_ > 0 ? now_seconds() - start_time_ : 0);
  return p;
}

void MilestoneObserver::on_checkpoint(const TrainingState& state, const std::string& path) {
  RunProgress p = progress();
  p.epoch = state.epoch;
  // Written after the checkpoint: a resume picks the checkpoint of progress.json's epoch, so the two always agree.
  if (Status s = write_json_file((std::filesystem::path(run_dir_) / kProgressFile).string(), to_json(p)); !s)
    save_error_ = s;
}

}  // namespace bilmod
