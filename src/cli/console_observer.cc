#include "cli/console_observer.h"

#include <cstdio>

#include "model/model.h"
#include "util/log.h"

namespace bilmod {

namespace {
std::string configuration_table(const RunConfig& config) {
  const nlohmann::json j = to_json(config);
  size_t width = 0;
  for (auto it = j.begin(); it != j.end(); ++it) width = std::max(width, it.key().size());
  std::string text = "configuration:";
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string value = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    if (it.key() == "data_seed" && config.data_seed < 0) value += " (= seed " + std::to_string(config.seed) + ")";
    if (it.key() == "threads" && config.threads == 0) value += " (every core)";
    text += "\n  " + it.key() + std::string(width - it.key().size(), ' ') + " = " + value;
  }
  return text;
}

std::string metrics_postfix(const nlohmann::json& m) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "train_loss=%.4g val_loss=%.4g train_acc=%.3f val_acc=%.3f",
                m.value("train/epoch_loss", m.value("train/loss", 0.0)), m.value("val/loss", 0.0),
                m.value("train/accuracy", 0.0), m.value("val/accuracy", 0.0));
  return buf;
}
}  // namespace

Status ConsoleObserver::on_start(const TrainingState& state) {
  const RunConfig& c = state.config();
  log::info(configuration_table(c));
  log::info("model " + model_kind_name(c.model) + ": " + std::to_string(state.layout().total) + " parameters",
            {{"parameters", state.layout().total},
             {"train_pairs", state.data.train_indices.size()},
             {"val_pairs", state.data.val_indices.size()}});
  if (const std::string notice = model_of(state.spec()).notice(); !notice.empty()) log::warning(notice);
  if (state.step > 0)
    log::info("resuming run " + state.run_id + " from " + c.resume_from,
              {{"epoch", state.epoch}, {"step", state.step}, {"epoch_step", state.epoch_step}});
  start_epoch_ = state.epoch;
  log_interval_ = std::max<int64_t>(c.eval_every, (c.epochs + 19) / 20);
  start_ = std::chrono::steady_clock::now();
  if (progress_bar_) bar_ = std::make_unique<ProgressBar>(true, c.epochs, state.epoch);
  return Status::ok();
}

void ConsoleObserver::on_step(const StepReport& step) {
  if (log::enabled(log::Level::kDebug))
    log::write(log::Level::kDebug, "step",
               {{"step", step.step}, {"train/batch_loss", step.batch_loss}, {"lr", step.lr}});
}

void ConsoleObserver::on_evaluation(const TrainingState& state, const nlohmann::json& metrics) {
  const int64_t epoch = state.epoch;
  if (bar_) bar_->update(epoch, metrics_postfix(metrics));
  const bool periodic =
      last_logged_epoch_ < 0 || epoch - last_logged_epoch_ >= log_interval_ || epoch == state.config().epochs;
  if (!bar_ && periodic) {
    log::write(
        log::Level::kInfo,
        "epoch " + std::to_string(epoch) + "/" + std::to_string(state.config().epochs) + " " + metrics_postfix(metrics),
        metrics, false);
    last_logged_epoch_ = epoch;
  } else {
    log::debug("evaluation", metrics);
  }
}

void ConsoleObserver::on_checkpoint(const TrainingState& state, const std::string& path) {
  log::debug("checkpoint written: " + path, {{"epoch", state.epoch}, {"step", state.step}});
}

void ConsoleObserver::on_finish(const TrainingState& state, const Status& outcome) {
  if (bar_) bar_->finish();
  bar_.reset();
  if (!outcome) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t epochs = state.epoch - start_epoch_;
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.1f ms/epoch", epochs > 0 ? seconds / static_cast<double>(epochs) * 1000 : 0.0);
  log::write(log::Level::kSuccess,
             "finished " + std::to_string(state.epoch) + " epochs in " + ProgressBar::format_duration(seconds) + " (" +
                 rate + "): " + metrics_postfix(state.metrics) + "; checkpoints in " + state.config().checkpoint_dir,
             state.metrics, false);
}

}  // namespace bilmod
