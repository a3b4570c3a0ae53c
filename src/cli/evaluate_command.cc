// bilmod evaluate: a checkpoint's loss and accuracy on its own split, and optionally its logits on every pair,
// so any other tool (PyTorch, numpy) can check bilmod's forward pass against its own.
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "analysis/analysis_input.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors.h"
#include "cli/command.h"
#include "model/logit_blocks.h"
#include "train/evaluate.h"
#include "train/memory_estimate.h"
#include "util/atomic_file.h"
#include "util/memory_budget.h"

namespace bilmod {

namespace {
struct EvaluateOptions {
  std::string checkpoint;
  std::string output;
  std::string max_memory;
};

int run_evaluate(const EvaluateOptions& o) {
  MemoryBudget budget;
  if (Status s = memory_budget(o.max_memory, &budget); !s) return report_failure("evaluate", s);
  // Reading the file, and (a bilmod checkpoint's header names the model) evaluating it: the larger of the two, before
  // either. A torch.save file names its shapes only inside: its evaluation is checked once it is loaded.
  std::string resolved;
  bool evaluation_checked = false;
  if (resolve_checkpoint_path(o.checkpoint, &resolved)) {  // else the loader reports the bad path itself
    CheckpointPeek peek;
    const bool known = peek_checkpoint(resolved, &peek);
    MemoryEstimate need =
        checkpoint_reading_memory("evaluate", resolved, loaded_state_bytes(resolved), known ? &peek : nullptr);
    if (known) {
      const MemoryEstimate evaluation = evaluation_memory(peek.spec, loaded_state_bytes(resolved), worker_threads());
      if (evaluation.bytes >= need.bytes) need = evaluation;
      evaluation_checked = true;
    }
    if (Status s = check_memory(need, budget); !s) return report_failure("evaluate", s);
  }
  // bilmod's checkpoints, and the torch.save files analyze reads (the seed's, the paper's transformer, TransformerLens);
  // a torch file without a split is evaluated on every pair, reported as train, with no validation numbers.
  AnalysisInput input;
  if (Status s = load_analysis_input(o.checkpoint, &input); !s) return report_failure("evaluate", s);
  const std::string& path = input.path;
  TrainingState& state = input.state;
  if (!evaluation_checked)
    if (Status s = check_memory(evaluation_memory(state.spec(), loaded_state_bytes(path), worker_threads()), budget);
        !s)
      return report_failure("evaluate", s);
  EvaluationWorkspace ws;
  EvaluationOptions options;
  options.loss = state.config().loss_settings();  // the run's own loss, as its checkpoints' metrics report it
  const SplitMetrics m = evaluate_splits(state.spec(), state.layout(), state.params.data(), state.data, &ws, options);
  nlohmann::json report = {{"checkpoint", path},
                           {"epoch", state.epoch},
                           {"step", state.step},
                           {"train/loss", m.train_loss},
                           {"train/accuracy", m.train_accuracy},
                           {"val/loss", m.val_loss},
                           {"val/accuracy", m.val_accuracy}};
  if (!input.split_known) report["val/loss"] = report["val/accuracy"] = nullptr;
  if (input.format != "safetensors") {
    report["source_format"] = input.format;
    report["notes"] = input.notes;
  }
  if (!o.output.empty()) {
    // logits (N, P) for the defined pairs in a-major order (the transformer: (N, P + 1)), with their pair indices
    // (N,). The logits (4 N P bytes: 4 GB at P = 997) go to the file a block at a time, never held whole.
    const std::vector<int64_t> pairs = defined_pairs(state.config().mod_basis, state.config().operation);
    const auto n = static_cast<int64_t>(pairs.size());
    const int64_t columns = logit_columns(state.spec(), LogitColumns::kAll);
    SafetensorsFile file;
    file.tensors["logits"] = SafeTensor{DType::kF32, {n, columns}, {}};
    file.put_i64("pair_index", {n}, pairs.data());
    file.metadata = {{"format", "bilmod-logits"}, {"checkpoint", path}};
    AtomicFileWriter writer(o.output);
    Status written = writer.open();
    const std::string header =
        safetensors_header(file, {{"logits", static_cast<uint64_t>(n * columns) * sizeof(float)}});
    if (written) written = writer.write(header.data(), header.size());
    if (written)
      for_each_logit_block(
          state.spec(), state.layout(), state.params, pairs,
          [&](int64_t, int64_t count, const float* logits) {
        if (written) written = writer.write(logits, static_cast<size_t>(count * columns) * sizeof(float));
          },
          LogitColumns::kAll);
    // Tensors follow in name order: logits, then pair_index.
    const SafeTensor& index = file.tensors["pair_index"];
    if (written) written = writer.write(index.bytes.data(), index.bytes.size());
    if (written) written = writer.commit();
    if (!written) return report_failure("evaluate", written);
  }
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}
}  // namespace

CommandRunner setup_evaluate_command(CLI::App* cmd) {
  auto o = std::make_shared<EvaluateOptions>();
  cmd->add_option("checkpoint", o->checkpoint,
                  "Checkpoint file (bilmod's .safetensors or a torch.save .pt), or a folder (its latest checkpoint)")
      ->required();
  cmd->add_option("--output", o->output, "Also write the logits of every pair to this .safetensors file");
  add_max_memory_option(cmd, &o->max_memory);
  return [o]() { return run_evaluate(*o); };
}

}  // namespace bilmod
