// `bilmod train`'s link to the tracking store: every optimiser step's train/batch_loss and every evaluation
// go to the project's trackio database, the run's settings to its config row.
//
// open() runs before train(): it opens (or creates) the store, so that an unusable store stops the run before
// any work, and names the run (trackio's adjective-noun-N) so that checkpoint_epoch_0 already records the name.
#pragma once
#include <memory>
#include <string>

#include "tracking/row_writer.h"
#include "tracking/trackio_store.h"
#include "train/trainer.h"

namespace bilmod {

class TrackingObserver : public TrainingObserver {
 public:
  TrackingObserver();
  ~TrackingObserver() override;

  // Opens the store named by state->config (folder, project), writes the config row, drops the rows a resume
  // will redo, and sets state->run_name when it was empty. A runtime Status names the store and the problem.
  Status open(TrainingState* state);
  const std::string& store_path() const;

  void on_step(const StepReport& step) override;
  void on_evaluation(const TrainingState& state, const nlohmann::json& metrics) override;
  // A checkpoint is a point a resume can restart from: the rows up to it are made durable first.
  void before_checkpoint(const TrainingState& state) override;
  void on_checkpoint(const TrainingState& state, const std::string& path) override;
  void on_finish(const TrainingState& state, const Status& outcome) override;

 private:
  class StoreSink;
  void report_store_health();

  std::unique_ptr<TrackioStore> store_;
  std::unique_ptr<StoreSink> sink_;
  std::unique_ptr<BackgroundRowWriter> writer_;
};

}  // namespace bilmod
