// Tracking rows of a sweep's runs where SQLite cannot be shared safely.
//
// The choice (README, "bilmod sweep"): a run writes the project's SQLite store directly when the whole sweep is
// one machine's processes on a local file system (the project lock serialises them). Under MPI, or when the
// tracking folder is on a network file system (NFS, Lustre, GPFS, CephFS, WekaFS, ... where SQLite's WAL is
// unsafe), every run writes trackio's JSONL inbox instead (docs/FORMATS.md): one folder per writer, each batch one
// file written under a temporary name and renamed, so writers on any number of nodes never share a file, a
// reader never sees half a file, and no lock is needed. At the end rank 0 imports the sweep's inbox files into
// the store, idempotently by log_id, when the store is on a local file system; on a network file system it
// leaves them to trackio, which imports its inbox itself.
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "tracking/row_writer.h"
#include "train/trainer.h"
#include "util/status.h"

namespace bilmod {

// Whether `path` (or its nearest existing parent) lives on a file system where SQLite's WAL is unsafe, read
// from /proc/mounts as trackio does. `fs_type` gets the type found.
bool on_network_filesystem(const std::string& path, std::string* fs_type = nullptr);

// The observer a sweep run uses in inbox mode: the same rows as the SQLite observer, to JSONL files.
class InboxTrackingObserver : public TrainingObserver {
 public:
  InboxTrackingObserver();
  ~InboxTrackingObserver() override;
  // Creates {tracking_dir}/inbox/{writer_id}/ for this attempt of the run (state->run_name must be set).
  Status open(const TrainingState& state);
  void on_step(const StepReport& step) override;
  void on_evaluation(const TrainingState& state, const nlohmann::json& metrics) override;
  void on_checkpoint(const TrainingState& state, const std::string& path) override;
  void on_finish(const TrainingState& state, const Status& outcome) override;

 private:
  class InboxSink;
  std::unique_ptr<InboxSink> sink_;
  std::unique_ptr<BackgroundRowWriter> writer_;
};

// Imports the inbox records of `run_ids` in `project` into its SQLite store and deletes the files it imported.
// A run resumed after an interruption has written some steps twice (once by each attempt): the later attempt's
// row is kept. `rows` gets the number of rows imported.
Status import_inbox(const std::string& tracking_dir, const std::string& project, const std::set<std::string>& run_ids,
                    int64_t* rows);

}  // namespace bilmod
