// One project's database in trackio's SQLite schema (docs/FORMATS.md, "Tracking store"): created exactly as trackio
// 0.36 creates it, or checked when it already exists; written in locked transactions; read by `bilmod runs`,
// `plot-run` and the dashboard, whether bilmod or trackio wrote it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tracking/trackio_row.h"
#include "util/status.h"

struct sqlite3;

namespace bilmod {

// A run as the store knows it: trackio lists a run once it has a metrics row; the config row may be missing.
struct StoredRun {
  std::string run_id;
  std::string run_name;
  nlohmann::json config;   // the config row's JSON, null when there is none
  std::string created_at;  // the config row's, or the first metrics row's timestamp
  int64_t rows = 0;
  int64_t last_step = 0;
  int64_t last_row_id = 0;  // grows with every row written: a cheap "has anything changed" mark
  std::string first_timestamp, last_timestamp;
};

// A metrics row read back.
struct StoredRow {
  int64_t id = 0;
  int64_t step = 0;
  std::string timestamp;
  nlohmann::json metrics;  // an object; "NaN"/"Infinity" strings already turned into numbers
};

// What a training run tells the store when it starts.
struct RunStart {
  std::string run_id;
  std::string run_name;          // empty: pick a new trackio-style name, unique in the project
  nlohmann::json config;         // every setting; _Username, _Created, _Group are added here
  std::string group;             // empty: _Group is null
  int64_t keep_steps_up_to = 0;  // a resumed run's checkpoint step: its rows after it are deleted (redone)
};

class TrackioStore {
 public:
  ~TrackioStore();
  TrackioStore(const TrackioStore&) = delete;
  TrackioStore& operator=(const TrackioStore&) = delete;

  // Creates the folder and the database if needed (schema, WAL), or checks that an existing file is a SQLite
  // database with trackio's tables. A Status naming the file and what is wrong otherwise.
  static Status open_for_writing(const std::string& tracking_dir, const std::string& project,
                                 std::unique_ptr<TrackioStore>* out);
  // Read-only: never creates, migrates or writes anything. A missing project is a runtime error.
  static Status open_for_reading(const std::string& tracking_dir, const std::string& project,
                                 std::unique_ptr<TrackioStore>* out);

  const std::string& path() const { return path_; }

  // Writing: each call is one transaction under the project lock.
  // Writes the config row (kept from the first start on a resume, with its _Created) and removes the run's
  // rows after keep_steps_up_to. Returns the run name (the one given, or a new one).
  Status begin_run(const RunStart& start, std::string* run_name);
  Status append_rows(const std::string& run_id, const std::string& run_name, const std::vector<MetricsRow>& rows);

  // Reading.
  Status list_runs(std::vector<StoredRun>* runs);
  // A run by name or id (a name shared by several runs, as trackio allows, must be given by id).
  Status find_run(const std::string& name_or_id, StoredRun* run);
  // The run's rows with id > after_id, in the order written.
  Status read_rows(const std::string& run_id, int64_t after_id, std::vector<StoredRow>* rows);
  // Only the rows with an "epoch" key (the evaluations), in step order.
  Status read_epoch_rows(const std::string& run_id, std::vector<StoredRow>* rows);

 private:
  TrackioStore() = default;
  Status error(const std::string& what) const;
  Status check_schema(bool for_writing);

  sqlite3* db_ = nullptr;
  std::string path_, lock_path_;
};

// The CREATE statements of trackio 0.36's schema, verbatim (docs/FORMATS.md), for tests to compare against.
const std::vector<std::string>& trackio_schema_statements();

}  // namespace bilmod
