// bilmod evaluate: a checkpoint's loss and accuracy on its own split, and optionally its logits on every pair,
// so any other tool (PyTorch, numpy) can check bilmod's forward pass against its own.
#include <cstdio>
#include <memory>

#include "analysis/analysis_input.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors.h"
#include "cli/command.h"
#include "model/network.h"
#include "train/evaluate.h"
#include "util/atomic_file.h"

namespace bilmod {

namespace {
struct EvaluateOptions {
  std::string checkpoint;
  std::string output;
};

int run_evaluate(const EvaluateOptions& o) {
  // bilmod's checkpoints, and the torch.save files analyze reads (the seed's, the paper's transformer, TransformerLens).
  AnalysisInput input;
  if (Status s = load_analysis_input(o.checkpoint, &input); !s) return report_failure("evaluate", s);
  const std::string& path = input.path;
  TrainingState& state = input.state;
  EvaluationWorkspace ws;
  EvaluationOptions options;
  options.loss = state.config.loss_settings();  // the run's own loss, as its checkpoints' metrics report it
  const SplitMetrics m = evaluate_splits(state.spec, state.layout, state.params.data(), state.data, &ws, options);
  const nlohmann::json report = {{"checkpoint", path},          {"epoch", state.epoch},
                                 {"step", state.step},          {"train/loss", m.train_loss},
                                 {"train/accuracy", m.train_accuracy}, {"val/loss", m.val_loss},
                                 {"val/accuracy", m.val_accuracy}};
  if (!o.output.empty()) {
    // logits (N, P) for the defined pairs in a-major order (the transformer: (N, P + 1)), with their pair indices (N,).
    const std::vector<int64_t> pairs = defined_pairs(state.config.mod_basis, state.config.parsed_operation());
    BatchActivations act;
    network_forward(state.spec, state.layout, state.params.data(), pairs.data(), static_cast<int64_t>(pairs.size()), &act);
    SafetensorsFile file;
    const auto n = static_cast<int64_t>(pairs.size());
    file.put_i64("pair_index", {n}, pairs.data());
    file.put_f32("logits", {n, state.spec.num_logits()}, act.logits.data());
    file.metadata = {{"format", "bilmod-logits"}, {"checkpoint", path}};
    if (Status s = write_file_atomically(o.output, serialize_safetensors(file)); !s) return report_failure("evaluate", s);
  }
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}
}  // namespace

CommandRunner setup_evaluate_command(CLI::App* cmd) {
  auto o = std::make_shared<EvaluateOptions>();
  cmd->add_option("checkpoint", o->checkpoint, "Checkpoint file, or a folder (its latest checkpoint)")->required();
  cmd->add_option("--output", o->output, "Also write the logits of every pair to this .safetensors file");
  return [o]() { return run_evaluate(*o); };
}

}  // namespace bilmod
