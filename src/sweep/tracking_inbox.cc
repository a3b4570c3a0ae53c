#include "sweep/tracking_inbox.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "tracking/tracking_folder.h"
#include "tracking/trackio_store.h"
#include "util/atomic_file.h"
#include "util/bounded_json.h"
#include "util/log.h"

namespace bilmod {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr auto kFlushInterval = std::chrono::milliseconds(1000);
constexpr auto kFinalPatience = std::chrono::milliseconds(30000);

std::string random_hex(int n) {
  std::string id = new_run_id();  // 32 hex characters from the OS's random source
  return id.substr(0, static_cast<size_t>(n));
}
}  // namespace

bool on_network_filesystem(const std::string& path, std::string* fs_type) {
  // trackio's list, plus the other common cluster file systems.
  static const std::set<std::string> kNetwork = {"nfs",       "nfs4",           "lustre",    "gpfs", "ceph",
                                                 "fuse.ceph", "wekafs",         "cifs",      "smb3", "beegfs",
                                                 "glusterfs", "fuse.glusterfs", "fuse.sshfs"};
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  while (!p.empty() && !fs::exists(p, ec) && p != p.root_path()) p = p.parent_path();
  const std::string real = fs::canonical(p, ec).string();
  std::ifstream mounts("/proc/mounts");
  std::string device, mount_point, type, best_type;
  size_t best = 0;
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    if (!(fields >> device >> mount_point >> type)) continue;
    const bool contains =
        real == mount_point || mount_point == "/" ||
        (real.rfind(mount_point, 0) == 0 && real.size() > mount_point.size() && real[mount_point.size()] == '/');
    if (contains && mount_point.size() >= best) {
      best = mount_point.size();
      best_type = type;
    }
  }
  if (fs_type) *fs_type = best_type;
  return kNetwork.count(best_type) > 0;
}

// Writes each batch of rows as one JSONL file: {inbox}/{writer}/{seq:08d}.jsonl, via a .tmp name and a rename.
class InboxTrackingObserver::InboxSink : public RowSink {
 public:
  InboxSink(std::string dir, json header) : dir_(std::move(dir)), header_(std::move(header)) {}
  Status write(const std::vector<MetricsRow>& rows) override {
    std::string text;
    for (const MetricsRow& row : rows) {
      json record = header_;
      record["metrics"] = parse_json_bounded(row.metrics, kTrackingJsonDepth);
      record["step"] = row.step;
      record["timestamp"] = row.timestamp;
      record["log_id"] = row.log_id;
      // The config goes with the writer's first record only: it is what creates the run's config row.
      if (seq_ > 0 || !text.empty()) record["config"] = nullptr;
      text += record.dump() + "\n";
    }
    char name[32];
    std::snprintf(name, sizeof name, "%08lld.jsonl", static_cast<long long>(seq_));
    // write_file_atomically writes a temporary name in the same folder and renames it: trackio's protocol.
    BILMOD_TRY(write_file_atomically((fs::path(dir_) / name).string(), text));
    ++seq_;
    return Status::ok();
  }

 private:
  std::string dir_;
  json header_;
  int64_t seq_ = 0;
};

InboxTrackingObserver::InboxTrackingObserver() = default;
InboxTrackingObserver::~InboxTrackingObserver() = default;

Status InboxTrackingObserver::open(const TrainingState& state) {
  const RunConfig& config = state.config();
  const std::string tracking_dir = resolve_tracking_dir(config.tracking_dir);
  // One writer per attempt of a run: a resumed run's new rows never land in the interrupted attempt's files.
  const std::string writer = "bilmod-" + state.run_id.substr(0, 12) + "-" + random_hex(8);
  const std::string dir = (fs::path(tracking_dir) / "inbox" / writer).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::runtime("cannot create the tracking inbox " + dir + ": " + ec.message());
  json run_config = to_json(config);
  run_config["_Group"] = config.group.empty() ? json(nullptr) : json(config.group);
  const json header = {{"v", 1},
                       {"kind", "metric"},
                       {"project", config.project},
                       {"run", state.run_name},
                       {"run_id", state.run_id},
                       {"config", run_config}};
  sink_ = std::make_unique<InboxSink>(dir, header);
  writer_ = std::make_unique<BackgroundRowWriter>(sink_.get(), kFlushInterval);
  log::info("tracking run " + state.run_name + " in the inbox " + dir, {{"run_id", state.run_id}});
  return Status::ok();
}

void InboxTrackingObserver::on_step(const StepReport& step) {
  writer_->add_scalar(step.step, "train/batch_loss", step.batch_loss);
}

void InboxTrackingObserver::on_evaluation(const TrainingState& state, const json& metrics) {
  writer_->add_metrics(state.step, metrics);
}

void InboxTrackingObserver::on_checkpoint(const TrainingState& state, const std::string& path) {
  // The rows up to a checkpoint are on disk before training goes past it.
  if (Status s = writer_->flush(); !s) log::warning("tracking inbox write failed: " + s.message());
}

void InboxTrackingObserver::on_finish(const TrainingState& state, const Status& outcome) {
  if (const size_t lost = writer_->stop(kFinalPatience); lost > 0)
    log::error(std::to_string(lost) + " tracking rows could not be written to the inbox");
}

Status import_inbox(const std::string& tracking_dir, const std::string& project, const std::set<std::string>& run_ids,
                    int64_t* imported) {
  *imported = 0;
  const fs::path inbox = fs::path(tracking_dir) / "inbox";
  std::error_code ec;
  if (!fs::is_directory(inbox, ec)) return Status::ok();
  struct Writer {
    std::string first_timestamp;
    std::vector<fs::path> files;
    std::vector<json> records;
  };
  std::vector<Writer> writers;
  for (const auto& entry : fs::directory_iterator(inbox, ec)) {
    if (!entry.is_directory()) continue;
    Writer w;
    for (const auto& file : fs::directory_iterator(entry.path(), ec))
      if (file.path().extension() == ".jsonl") w.files.push_back(file.path());
    std::sort(w.files.begin(), w.files.end());
    bool ours = !w.files.empty();
    for (const fs::path& f : w.files) {
      std::ifstream in(f);
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        json record = parse_json_bounded(line, kTrackingJsonDepth);
        if (record.is_discarded()) return Status::runtime("tracking inbox file " + f.string() + " holds a bad line");
        // Another project's or another sweep's writer is left for its own importer (or trackio).
        if (record.value("project", "") != project || !run_ids.count(record.value("run_id", ""))) ours = false;
        w.records.push_back(std::move(record));
      }
    }
    if (!ours || w.records.empty()) continue;
    w.first_timestamp = w.records.front().value("timestamp", "");
    writers.push_back(std::move(w));
  }
  // Attempts in the order they ran; for each (run, step, metric names) the last attempt's row wins.
  std::sort(writers.begin(), writers.end(),
            [](const Writer& a, const Writer& b) { return a.first_timestamp < b.first_timestamp; });
  struct Run {
    std::string name;
    json config;
    std::map<std::pair<int64_t, std::string>, MetricsRow> rows;
  };
  std::map<std::string, Run> runs;
  for (const Writer& w : writers)
    for (const json& r : w.records) {
      Run& run = runs[r.at("run_id").get<std::string>()];
      run.name = r.value("run", run.name);
      if (r.contains("config") && r.at("config").is_object()) run.config = r.at("config");
      std::string keys;
      for (auto it = r.at("metrics").begin(); it != r.at("metrics").end(); ++it) keys += it.key() + "\n";
      MetricsRow row;
      row.step = r.at("step").get<int64_t>();
      row.timestamp = r.at("timestamp").get<std::string>();
      row.metrics = r.at("metrics").dump();
      row.log_id = r.at("log_id").get<std::string>();
      run.rows[{row.step, keys}] = row;
    }
  if (runs.empty()) return Status::ok();
  std::unique_ptr<TrackioStore> store;
  BILMOD_TRY(TrackioStore::open_for_writing(tracking_dir, project, &store));
  for (auto& [run_id, run] : runs) {
    RunStart start;
    start.run_id = run_id;
    start.run_name = run.name;
    json config = run.config.is_object() ? run.config : json::object();
    start.group = config.contains("_Group") && config["_Group"].is_string() ? config["_Group"].get<std::string>() : "";
    for (const char* internal : {"_Group", "_Username", "_Created"}) config.erase(internal);
    start.config = config;
    start.keep_steps_up_to = INT64_MAX;  // an import adds rows; it never removes any
    std::string name;
    BILMOD_TRY(store->begin_run(start, &name));
    std::vector<MetricsRow> rows;
    for (auto& [key, row] : run.rows) rows.push_back(row);
    std::sort(rows.begin(), rows.end(), [](const MetricsRow& a, const MetricsRow& b) { return a.step < b.step; });
    BILMOD_TRY(store->append_rows(run_id, name, rows));
    *imported += static_cast<int64_t>(rows.size());
  }
  // Only now, with every row committed, do the files go (a crash before this point re-imports idempotently).
  for (const Writer& w : writers) {
    for (const fs::path& f : w.files) fs::remove(f, ec);
    if (!w.files.empty()) fs::remove(w.files.front().parent_path(), ec);
  }
  return Status::ok();
}

}  // namespace bilmod
