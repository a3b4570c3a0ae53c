#include "tracking/tracking_observer.h"

#include "tracking/tracking_folder.h"
#include "util/log.h"

namespace bilmod {

namespace {
// docs/FORMATS.md: a flush at least every second.
constexpr std::chrono::milliseconds kFlushInterval(1000);
// How long the end of a run keeps retrying rows the store refused (a disk being cleared) before giving up.
constexpr std::chrono::milliseconds kFinalPatience(10000);
}  // namespace

class TrackingObserver::StoreSink : public RowSink {
 public:
  StoreSink(TrackioStore* store, std::string run_id, std::string run_name)
      : store_(store), run_id_(std::move(run_id)), run_name_(std::move(run_name)) {}
  Status write(const std::vector<MetricsRow>& rows) override { return store_->append_rows(run_id_, run_name_, rows); }

 private:
  TrackioStore* store_;
  std::string run_id_, run_name_;
};

TrackingObserver::TrackingObserver() = default;
TrackingObserver::~TrackingObserver() {
  if (writer_) writer_->stop(std::chrono::milliseconds(0));
}

const std::string& TrackingObserver::store_path() const {
  static const std::string none;
  return store_ ? store_->path() : none;
}

Status TrackingObserver::open(TrainingState* state) {
  const RunConfig& config = state->config();
  const std::string dir = resolve_tracking_dir(config.tracking_dir);
  BILMOD_TRY(TrackioStore::open_for_writing(dir, config.project, &store_));
  RunStart start;
  start.run_id = state->run_id;
  start.run_name = state->run_name;
  start.config = to_json(config);
  start.group = config.group;
  start.keep_steps_up_to = state->step;
  std::string name;
  BILMOD_TRY(store_->begin_run(start, &name));
  state->run_name = name;
  sink_ = std::make_unique<StoreSink>(store_.get(), state->run_id, name);
  writer_ = std::make_unique<BackgroundRowWriter>(sink_.get(), kFlushInterval);
  log::info("tracking run " + name + " in " + store_->path(),
            {{"run_id", state->run_id}, {"run_name", name}, {"project", config.project}});
  return Status::ok();
}

void TrackingObserver::report_store_health() {
  if (std::optional<Status> failure = writer_->take_new_failure())
    log::warning("tracking store write failed: " + failure->message() +
                 "; training goes on, the rows are kept and retried every second");
  if (size_t late = 0; writer_->take_recovery(&late))
    log::info("tracking store writable again: " + std::to_string(late) + " kept rows written");
}

void TrackingObserver::on_step(const StepReport& step) {
  writer_->add_scalar(step.step, "train/batch_loss", step.batch_loss);
}

void TrackingObserver::on_evaluation(const TrainingState& state, const nlohmann::json& metrics) {
  writer_->add_metrics(state.step, metrics);
  report_store_health();
}

void TrackingObserver::before_checkpoint(const TrainingState& state) {
  // Wait for every row up to state.step to be committed before the checkpoint exists: a resume from it keeps the
  // stored rows up to its step and redoes only the later ones, so a kill just after its rename (at an epoch's end or
  // at a SIGINT inside an epoch) must find them stored. Rows a kill leaves beyond the latest checkpoint are dropped
  // by the resume. One commit per checkpoint (SQLite's WAL, no fsync) is far below the 3 % budget.
  writer_->flush();
  report_store_health();
}

void TrackingObserver::on_checkpoint(const TrainingState& state, const std::string& path) { report_store_health(); }

void TrackingObserver::on_finish(const TrainingState& state, const Status& outcome) {
  const size_t lost = writer_->stop(kFinalPatience);
  report_store_health();
  if (lost > 0)
    log::error(std::to_string(lost) + " tracking rows could not be written to " + store_->path() +
               " (the checkpoints are intact; the store misses the run's last steps)");
}

}  // namespace bilmod
