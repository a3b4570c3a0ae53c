// Training must not wait for the disk: the observer hands each row to this writer, which formats and writes
// them from its own thread in one transaction per batch (at least once a second, and on flush()). A write
// that fails (disk full) keeps its rows and is retried on the next tick, so rows are never dropped while the
// run goes on; the failure is reported once to the training thread, which logs it.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tracking/trackio_row.h"
#include "util/status.h"

namespace bilmod {

// Where the rows go: the SQLite store in bilmod, a fake in tests.
class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual Status write(const std::vector<MetricsRow>& rows) = 0;
};

class BackgroundRowWriter {
 public:
  BackgroundRowWriter(RowSink* sink, std::chrono::milliseconds flush_interval);
  ~BackgroundRowWriter();  // stop(0 s) if not stopped
  BackgroundRowWriter(const BackgroundRowWriter&) = delete;
  BackgroundRowWriter& operator=(const BackgroundRowWriter&) = delete;

  // Cheap and non-blocking (a lock and a push): the per-step row of train/batch_loss.
  void add_scalar(int64_t step, const char* key, double value);
  // Any flat metrics object (the evaluations).
  void add_metrics(int64_t step, nlohmann::json metrics);

  // Waits until every row added before the call has had a write attempt; the status of that attempt.
  Status flush();
  // Final flush, retried until `patience` runs out; then ends the thread. Returns the rows that could not be
  // written (0 when all are in the store).
  size_t stop(std::chrono::milliseconds patience);

  // The first failure since the last healthy write, once (for the training thread to log); and whether the
  // store has recovered since a reported failure.
  std::optional<Status> take_new_failure();
  bool take_recovery(size_t* rows_written_late);
  size_t rows_written() const;

 private:
  struct PendingRow {
    int64_t step;
    std::chrono::system_clock::time_point time;
    const char* scalar_key;  // non-null: a one-metric row {scalar_key: scalar_value}, built off the training thread
    double scalar_value;
    nlohmann::json metrics;
  };
  void run();
  MetricsRow format(const PendingRow& row);
  std::string new_log_id();

  RowSink* sink_;
  std::chrono::milliseconds interval_;
  std::mt19937_64 log_id_rng_[2];  // 128 bits per log id, seeded once from the OS

  mutable std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<PendingRow> pending_;         // added, not yet taken by the thread
  uint64_t requested_ = 0, completed_ = 0;  // flush generations
  bool stopping_ = false;
  Status last_status_;
  std::optional<Status> new_failure_;
  bool failure_reported_ = false, recovered_ = false;
  size_t late_rows_ = 0, written_ = 0;
  std::vector<MetricsRow> unwritten_;  // the thread's own: formatted rows awaiting a successful write
  std::thread thread_;
};

}  // namespace bilmod
