// What a person sees during `bilmod train`: the configuration at start, a progress bar on a terminal (or a
// plain log line every few epochs elsewhere), checkpoint and end-of-run lines.
#pragma once
#include <chrono>
#include <memory>

#include "train/trainer.h"
#include "util/progress.h"

namespace bilmod {

// docs/MODELS.md's fact about the seed's model, stated in the help and at the start of every bilinear run.
inline constexpr const char* kBilinearCannotGeneralise =
    "--model bilinear cannot generalise: with one-hot inputs nn.Bilinear is a lookup table, every (a, b) pair owns "
    "its private vector W[:, a, b], and a pair never seen in training gets no gradient, only weight decay. Validation "
    "accuracy stays near 1/P however long it trains (it memorises). Use --model factored or --model mlp to see "
    "grokking.";

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
