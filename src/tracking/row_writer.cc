#include "tracking/row_writer.h"

namespace bilmod {

BackgroundRowWriter::BackgroundRowWriter(RowSink* sink, std::chrono::milliseconds flush_interval)
    : sink_(sink), interval_(flush_interval) {
  std::random_device device;
  for (auto& rng : log_id_rng_) {
    std::seed_seq seed{device(), device(), device(), device()};
    rng.seed(seed);
  }
  thread_ = std::thread([this] { run(); });
}

BackgroundRowWriter::~BackgroundRowWriter() { stop(std::chrono::milliseconds(0)); }

void BackgroundRowWriter::add_scalar(int64_t step, const char* key, double value) {
  const auto now = std::chrono::system_clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back({step, now, key, value, nlohmann::json()});
}

void BackgroundRowWriter::add_metrics(int64_t step, nlohmann::json metrics) {
  const auto now = std::chrono::system_clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back({step, now, nullptr, 0.0, std::move(metrics)});
}

std::string BackgroundRowWriter::new_log_id() {
  static const char* kHex = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = log_id_rng_[half]();
    for (int i = 0; i < 16; ++i, bits >>= 4) id[static_cast<size_t>(half * 16 + i)] = kHex[bits & 15];
  }
  return id;
}

MetricsRow BackgroundRowWriter::format(const PendingRow& row) {
  MetricsRow out;
  out.step = row.step;
  out.timestamp = trackio_timestamp(row.time);
  out.metrics = row.scalar_key ? trackio_metrics_json(nlohmann::json{{row.scalar_key, row.scalar_value}})
                               : trackio_metrics_json(row.metrics);
  out.log_id = new_log_id();
  return out;
}

void BackgroundRowWriter::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, interval_, [&] { return stopping_ || requested_ > completed_; });
    const uint64_t generation = requested_;
    const bool stopping = stopping_;
    std::vector<PendingRow> taken;
    taken.swap(pending_);
    lock.unlock();
    for (const PendingRow& row : taken) unwritten_.push_back(format(row));
    Status status = Status::ok();
    const size_t count = unwritten_.size();
    if (count > 0) status = sink_->write(unwritten_);
    lock.lock();
    last_status_ = status;
    if (status) {
      written_ += count;
      if (failure_reported_ || new_failure_) {
        // Rows kept through a failure are in the store now.
        recovered_ = failure_reported_;
        late_rows_ = count;
        failure_reported_ = false;
        new_failure_.reset();
      }
      unwritten_.clear();
    } else if (!failure_reported_ && !new_failure_) {
      new_failure_ = status;
    }
    completed_ = generation;
    done_.notify_all();
    if (stopping) return;
  }
}

Status BackgroundRowWriter::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!thread_.joinable()) return last_status_;
  const uint64_t generation = ++requested_;
  wake_.notify_all();
  done_.wait(lock, [&] { return completed_ >= generation; });
  return last_status_;
}

size_t BackgroundRowWriter::stop(std::chrono::milliseconds patience) {
  if (!thread_.joinable()) return unwritten_.size();
  const auto deadline = std::chrono::steady_clock::now() + patience;
  // Retry the final write while the store refuses it and patience lasts (a full disk may be cleared).
  while (!flush() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(interval_, std::chrono::milliseconds(500)));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    ++requested_;
  }
  wake_.notify_all();
  thread_.join();
  return unwritten_.size();
}

std::optional<Status> BackgroundRowWriter::take_new_failure() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!new_failure_) return std::nullopt;
  std::optional<Status> failure = std::move(new_failure_);
  new_failure_.reset();
  failure_reported_ = true;
  return failure;
}

bool BackgroundRowWriter::take_recovery(size_t* rows_written_late) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!recovered_) return false;
  recovered_ = false;
  *rows_written_late = late_rows_;
  return true;
}

size_t BackgroundRowWriter::rows_written() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return written_;
}

}  // namespace bilmod
