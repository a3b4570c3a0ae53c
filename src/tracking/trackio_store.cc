#include "tracking/trackio_store.h"

#include <pwd.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "tracking/project_lock.h"
#include "tracking/run_names.h"
#include "tracking/tracking_folder.h"
#include "util/bounded_json.h"

namespace bilmod {

namespace fs = std::filesystem;

const std::vector<std::string>& trackio_schema_statements() {
  static const std::vector<std::string> statements = {
      "CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, timestamp TEXT "
      "NOT NULL, run_name TEXT NOT NULL, step INTEGER NOT NULL, metrics TEXT NOT NULL, log_id TEXT, space_id TEXT)",
      "CREATE TABLE IF NOT EXISTS configs (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, run_name TEXT "
      "NOT NULL, config TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE(run_id))",
      "CREATE TABLE IF NOT EXISTS system_metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, "
      "timestamp "
      "TEXT NOT NULL, run_name TEXT NOT NULL, metrics TEXT NOT NULL, log_id TEXT, space_id TEXT)",
      "CREATE UNIQUE INDEX IF NOT EXISTS idx_metrics_log_id ON metrics(log_id) WHERE log_id IS NOT NULL",
      "CREATE INDEX IF NOT EXISTS idx_metrics_pending ON metrics(space_id) WHERE space_id IS NOT NULL",
      "CREATE INDEX IF NOT EXISTS idx_metrics_run_step ON metrics(run_id, step)",
      "CREATE INDEX IF NOT EXISTS idx_metrics_run_timestamp ON metrics(run_id, timestamp)",
      "CREATE INDEX IF NOT EXISTS idx_configs_run_name ON configs(run_name)",
      "CREATE UNIQUE INDEX IF NOT EXISTS idx_system_metrics_log_id ON system_metrics(log_id) WHERE log_id IS NOT NULL",
      "CREATE INDEX IF NOT EXISTS idx_system_metrics_pending ON system_metrics(space_id) WHERE space_id IS NOT NULL",
      "CREATE INDEX IF NOT EXISTS idx_system_metrics_run_timestamp ON system_metrics(run_id, timestamp)",
  };
  return statements;
}

namespace {

// docs/FORMATS.md asks for >= 30 s; the flock already queues bilmod's writers, so this covers trackio's and readers'.
constexpr int kBusyTimeoutMs = 60000;

// A prepared statement that finalises itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool prepared() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind_null(int index) { sqlite3_bind_null(stmt_, index); }
  int step() { return sqlite3_step(stmt_); }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int column) {
    const unsigned char* t = sqlite3_column_text(stmt_, column);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
             : "";
  }
  int64_t integer(int column) { return sqlite3_column_int64(stmt_, column); }
  bool is_null(int column) { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

std::string user_name() {
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_name) return pw->pw_name;
  if (const char* user = std::getenv("USER")) return user;
  return "";
}

// The columns each table must have for bilmod to read it (and, writing, to fill every column trackio fills).
struct RequiredTable {
  const char* name;
  std::vector<std::string> read_columns, write_columns;
};
const RequiredTable kRequired[] = {
    {"metrics", {"id", "run_id", "timestamp", "run_name", "step", "metrics"}, {"log_id", "space_id"}},
    {"configs", {"run_id", "run_name", "config", "created_at"}, {}},
};

}  // namespace

TrackioStore::~TrackioStore() {
  if (db_) sqlite3_close_v2(db_);
}

Status TrackioStore::error(const std::string& what) const {
  const int code = db_ ? sqlite3_errcode(db_) : SQLITE_ERROR;
  if (code == SQLITE_NOTADB)
    return Status::runtime(path_ +
                           " is not a SQLite database, so not a tracking store: move it away, or choose "
                           "another --project or --tracking-dir (or --no-track)");
  if (code == SQLITE_FULL) return Status::runtime(what + " in " + path_ + ": the disk is full");
  return Status::runtime(what + " in " + path_ + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
}

Status TrackioStore::check_schema(bool for_writing) {
  for (const RequiredTable& table : kRequired) {
    Statement info(db_, (std::string("PRAGMA table_info(") + table.name + ")").c_str());
    if (!info.prepared()) return error("cannot read the schema");
    std::set<std::string> columns;
    int rc;
    while ((rc = info.step()) == SQLITE_ROW) columns.insert(info.text(1));
    if (rc != SQLITE_DONE) return error("cannot read the schema");
    if (columns.empty()) {
      if (for_writing) continue;                           // created below, as trackio would
      if (std::string(table.name) == "configs") continue;  // a store without configs still has runs to list
      return Status::runtime(path_ + " has no '" + table.name + "' table: it is not a trackio store");
    }
    std::vector<std::string> needed = table.read_columns;
    if (for_writing) needed.insert(needed.end(), table.write_columns.begin(), table.write_columns.end());
    for (const std::string& column : needed)
      if (!columns.count(column))
        return Status::runtime(path_ + ": table '" + table.name + "' has no column '" + column +
                               "', so it is not trackio 0.36's schema; open it once with a current trackio "
                               "to migrate it, or choose another --project or --tracking-dir");
  }
  return Status::ok();
}

Status TrackioStore::open_for_writing(const std::string& tracking_dir, const std::string& project,
                                      std::unique_ptr<TrackioStore>* out) {
  BILMOD_TRY(check_project_name(project, "--project"));
  std::error_code ec;
  fs::create_directories(tracking_dir, ec);
  if (ec || !fs::is_directory(tracking_dir, ec))
    return Status::runtime("tracking folder " + tracking_dir + " cannot be created: " + ec.message() +
                           " (set --tracking-dir, or --no-track)");
  if (::access(tracking_dir.c_str(), W_OK) != 0)
    return Status::runtime("tracking folder " + tracking_dir + " is not writable (set --tracking-dir, or --no-track)");
  std::unique_ptr<TrackioStore> store(new TrackioStore());
  store->path_ = project_db_path(tracking_dir, project);
  store->lock_path_ = project_lock_path(tracking_dir, project);
  ProjectLock lock;
  BILMOD_TRY(lock.acquire(store->lock_path_));
  if (sqlite3_open_v2(store->path_.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK)
    return store->error("cannot open the tracking store");
  sqlite3_busy_timeout(store->db_, kBusyTimeoutMs);
  // The schema is checked before anything is written, so a foreign file is left exactly as it was.
  BILMOD_TRY(store->check_schema(true));
  char* message = nullptr;
  if (sqlite3_exec(store->db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, &message) != SQLITE_OK) {
    sqlite3_free(message);
    return store->error("cannot switch the tracking store to WAL");
  }
  sqlite3_exec(store->db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  for (const std::string& sql : trackio_schema_statements())
    if (sqlite3_exec(store->db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return store->error("cannot create trackio's tables");
  *out = std::move(store);
  return Status::ok();
}

Status TrackioStore::open_for_reading(const std::string& tracking_dir, const std::string& project,
                                      std::unique_ptr<TrackioStore>* out) {
  BILMOD_TRY(check_project_name(project, "--project"));
  std::unique_ptr<TrackioStore> store(new TrackioStore());
  store->path_ = project_db_path(tracking_dir, project);
  std::error_code ec;
  if (!fs::is_regular_file(store->path_, ec))
    return Status::runtime("no project '" + project + "' in " + tracking_dir + " (no " + store->path_ +
                           "); `bilmod runs" + " --tracking-dir " + tracking_dir + "` lists the projects there");
  if (sqlite3_open_v2(store->path_.c_str(), &store->db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK)
    return store->error("cannot open the tracking store");
  sqlite3_busy_timeout(store->db_, kBusyTimeoutMs);
  BILMOD_TRY(store->check_schema(false));
  *out = std::move(store);
  return Status::ok();
}

Status TrackioStore::begin_run(const RunStart& start, std::string* run_name) {
  ProjectLock lock;
  BILMOD_TRY(lock.acquire(lock_path_));
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return error("cannot start a transaction");
  auto fail = [&](const std::string& what) {
    Status s = error(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  };
  // The run's existing config row (a resume) keeps its creation time.
  std::string created_at, existing_created_field;
  {
    Statement existing(db_, "SELECT created_at, config FROM configs WHERE run_id = ?");
    if (!existing.prepared()) return fail("cannot read the config rows");
    existing.bind(1, start.run_id);
    if (existing.step() == SQLITE_ROW) {
      created_at = existing.text(0);
      nlohmann::json old = parse_json_bounded(existing.text(1), kTrackingJsonDepth);
      if (old.is_object() && old.contains("_Created") && old["_Created"].is_string())
        existing_created_field = old["_Created"];
    }
  }
  std::string name = start.run_name;
  if (name.empty()) {
    std::set<std::string> names;
    Statement all(db_, "SELECT run_name FROM configs UNION SELECT DISTINCT run_name FROM metrics");
    if (!all.prepared()) return fail("cannot read the run names");
    while (all.step() == SQLITE_ROW) names.insert(all.text(0));
    name = new_run_name(names);
  }
  const std::string now = trackio_timestamp(std::chrono::system_clock::now());
  if (created_at.empty()) created_at = now;
  nlohmann::json config = start.config.is_object() ? start.config : nlohmann::json::object();
  config["_Username"] = user_name();
  config["_Created"] = existing_created_field.empty() ? created_at : existing_created_field;
  config["_Group"] = start.group.empty() ? nlohmann::json(nullptr) : nlohmann::json(start.group);
  {
    Statement upsert(db_,
                     "INSERT INTO configs (run_id, run_name, config, created_at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT(run_id) DO UPDATE SET run_name = excluded.run_name, config = excluded.config");
    if (!upsert.prepared()) return fail("cannot write the config row");
    upsert.bind(1, start.run_id);
    upsert.bind(2, name);
    upsert.bind(3, config.dump());
    upsert.bind(4, created_at);
    if (upsert.step() != SQLITE_DONE) return fail("cannot write the config row");
  }
  {
    // A resumed run redoes every step after its checkpoint: the interrupted process's rows for them go.
    Statement redo(db_, "DELETE FROM metrics WHERE run_id = ? AND step > ?");
    if (!redo.prepared()) return fail("cannot remove the steps a resume redoes");
    redo.bind(1, start.run_id);
    redo.bind(2, start.keep_steps_up_to);
    if (redo.step() != SQLITE_DONE) return fail("cannot remove the steps a resume redoes");
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("cannot commit");
  *run_name = name;
  return Status::ok();
}

Status TrackioStore::append_rows(const std::string& run_id, const std::string& run_name,
                                 const std::vector<MetricsRow>& rows) {
  if (rows.empty()) return Status::ok();
  ProjectLock lock;
  BILMOD_TRY(lock.acquire(lock_path_));
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return error("cannot start a transaction");
  {
    // INSERT OR IGNORE on the unique log_id: a batch retried after a failed COMMIT that did land is not doubled.
    Statement insert(db_,
                     "INSERT OR IGNORE INTO metrics (run_id, timestamp, run_name, step, metrics, log_id) "
                     "VALUES (?, ?, ?, ?, ?, ?)");
    bool ok = insert.prepared();
    for (size_t i = 0; ok && i < rows.size(); ++i) {
      insert.bind(1, run_id);
      insert.bind(2, rows[i].timestamp);
      insert.bind(3, run_name);
      insert.bind(4, rows[i].step);
      insert.bind(5, rows[i].metrics);
      insert.bind(6, rows[i].log_id);
      ok = insert.step() == SQLITE_DONE;
      insert.reset();
    }
    if (!ok) {
      Status s = error("cannot write " + std::to_string(rows.size()) + " metrics rows");
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return s;
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    Status s = error("cannot commit " + std::to_string(rows.size()) + " metrics rows");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  }
  return Status::ok();
}

Status TrackioStore::list_runs(std::vector<StoredRun>* runs) {
  runs->clear();
  Statement summary(db_,
                    "SELECT run_id, MAX(run_name), COUNT(*), MAX(step), MAX(id), MIN(timestamp), MAX(timestamp) "
                    "FROM metrics GROUP BY run_id ORDER BY MIN(id)");
  if (!summary.prepared()) return error("cannot list the runs");
  int rc;
  while ((rc = summary.step()) == SQLITE_ROW) {
    StoredRun run;
    run.run_id = summary.text(0);
    run.run_name = summary.text(1);
    run.rows = summary.integer(2);
    run.last_step = summary.integer(3);
    run.last_row_id = summary.integer(4);
    run.first_timestamp = summary.text(5);
    run.last_timestamp = summary.text(6);
    run.created_at = run.first_timestamp;
    runs->push_back(std::move(run));
  }
  if (rc != SQLITE_DONE) return error("cannot list the runs");
  Statement configs(db_, "SELECT run_id, run_name, config, created_at FROM configs");
  if (!configs.prepared()) return Status::ok();  // a store without a configs table: runs without settings
  while (configs.step() == SQLITE_ROW) {
    const std::string id = configs.text(0);
    for (StoredRun& run : *runs)
      if (run.run_id == id) {
        run.run_name = configs.text(1);
        run.config = parse_json_bounded(configs.text(2), kTrackingJsonDepth);
        if (run.config.is_discarded()) run.config = nullptr;
        run.created_at = configs.text(3);
      }
  }
  return Status::ok();
}

Status TrackioStore::find_run(const std::string& name_or_id, StoredRun* found) {
  std::vector<StoredRun> runs;
  BILMOD_TRY(list_runs(&runs));
  std::vector<const StoredRun*> matches;
  for (const StoredRun& run : runs)
    if (run.run_id == name_or_id) {
      *found = run;
      return Status::ok();
    }
  for (const StoredRun& run : runs)
    if (run.run_name == name_or_id) matches.push_back(&run);
  if (matches.size() == 1) {
    *found = *matches.front();
    return Status::ok();
  }
  if (matches.empty())
    return Status::runtime("no run '" + name_or_id + "' in " + path_ + "; `bilmod runs --project ...` lists its runs");
  std::string ids;
  for (const StoredRun* run : matches) ids += (ids.empty() ? "" : ", ") + run->run_id;
  return Status::usage("run name '" + name_or_id + "' is shared by " + std::to_string(matches.size()) +
                       " runs: give one of their ids instead (" + ids + ")");
}

namespace {
Status collect_rows(Statement* query, std::vector<StoredRow>* rows) {
  int rc;
  while ((rc = query->step()) == SQLITE_ROW) {
    StoredRow row;
    row.id = query->integer(0);
    row.step = query->integer(1);
    row.timestamp = query->text(2);
    row.metrics = parse_trackio_metrics(query->text(3));
    rows->push_back(std::move(row));
  }
  return rc == SQLITE_DONE ? Status::ok() : Status::runtime("reading stopped early");
}
}  // namespace

Status TrackioStore::read_rows(const std::string& run_id, int64_t after_id, std::vector<StoredRow>* rows) {
  rows->clear();
  Statement query(db_, "SELECT id, step, timestamp, metrics FROM metrics WHERE run_id = ? AND id > ? ORDER BY id");
  if (!query.prepared()) return error("cannot read the metrics");
  query.bind(1, run_id);
  query.bind(2, after_id);
  if (!collect_rows(&query, rows)) return error("cannot read the metrics");
  return Status::ok();
}

Status TrackioStore::read_epoch_rows(const std::string& run_id, std::vector<StoredRow>* rows) {
  rows->clear();
  // The LIKE is a cheap pre-filter on the text (the per-step rows, the bulk of a run, never match); the JSON
  // check below is the real test.
  Statement query(db_,
                  "SELECT id, step, timestamp, metrics FROM metrics WHERE run_id = ? AND metrics LIKE '%\"epoch\"%' "
                  "ORDER BY step, id");
  if (!query.prepared()) return error("cannot read the metrics");
  query.bind(1, run_id);
  std::vector<StoredRow> candidates;
  if (!collect_rows(&query, &candidates)) return error("cannot read the metrics");
  for (StoredRow& row : candidates)
    if (row.metrics.contains("epoch")) rows->push_back(std::move(row));
  return Status::ok();
}

}  // namespace bilmod
