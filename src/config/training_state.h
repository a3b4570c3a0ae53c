// Everything a run is at a step boundary: what a checkpoint saves and a resume restores.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "model/model_spec.h"
#include "optim/grokfast.h"
#include "optim/optimizer.h"
#include "config/run_config.h"

namespace bilmod {

struct TrainingState {
  // The run's settings. The model's spec and its parameter layout follow from them: set_config sets all three, so
  // they cannot disagree (a default state is the default config's).
  const RunConfig& config() const { return config_; }
  const ModelSpec& spec() const { return spec_; }
  const ParameterLayout& layout() const { return layout_; }
  void set_config(RunConfig config) {
    config_ = std::move(config);
    spec_ = config_.model_spec();
    layout_ = make_parameter_layout(spec_);
  }

  std::vector<float> params;  // (layout().total,) in bilmod's stored order (model/model_spec.h)
  OptimizerState optimizer;
  // The total L2 norm of the parameters right after initialisation and --init-scale: --fixed-norm's target, saved
  // in every checkpoint so a resume restores the same norm (NaN: not known, a checkpoint from before it was saved).
  double initial_norm = std::numeric_limits<double>::quiet_NaN();
  GrokfastState grokfast;  // the gradient filter's state (--grokfast); empty without one
  Dataset data;
  int64_t epoch = 0;          // epochs completed
  int64_t step = 0;           // optimiser steps completed
  int64_t epoch_step = 0;     // steps already taken inside epoch `epoch` (non-zero only after an interruption)
  double epoch_loss_sum = 0;  // sum of those steps' batch losses, for train/epoch_loss
  std::string run_id;         // 32 lowercase hex chars, kept across resumes
  std::string run_name;
  nlohmann::json metrics = nlohmann::json::object();  // the last evaluation

 private:
  RunConfig config_;
  ModelSpec spec_ = config_.model_spec();
  ParameterLayout layout_ = make_parameter_layout(spec_);
};

}  // namespace bilmod
