// What a person sees during `bilmod train`: the configuration at start, a progress bar on a terminal (or a
// plain log line every few epochs elsewhere), checkpoint and end-of-run lines.
#pragma once
#include <chrono>
#include <memory>

#include "train/trainer.h"
#include "util/progress.h"

namespace bilmod {

class ConsoleObserver : public TrainingObserver {
 public:
  explicit ConsoleObserver(bool progress_bar) : progress_bar_(progress_bar) {}
  Status on_start(const TrainingState& state) override;
  void on_step(const StepReport& step) override;
  void on_evaluation(const TrainingState& state, const nlohmann::json& metrics) override;
  void on_checkpoint(const TrainingState& state, const std::string& path) override;
  void on_finish(const TrainingState& state, const Status& outcome) override;

 private:
  bool progress_bar_;
  std::unique_ptr<ProgressBar> bar_;
  int64_t log_interval_ = 1;
  int64_t last_logged_epoch_ = -1;
  int64_t start_epoch_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace bilmod
