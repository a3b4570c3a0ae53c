// bilmod analyze: what a trained model computes, in numbers (docs/MODELS.md "Analysis"): interaction-matrix spectra,
// key frequencies, restricted and excluded loss, the input weights' Gini coefficient, accuracy recomputed.
// With --over-training, the same for every checkpoint of a run, drawn against epoch (Nanda et al. 2023).
#include <cstdio>
#include <memory>

#include "analysis/analysis_input.h"
#include "analysis/analysis_memory.h"
#include "analysis/progress_measures.h"
#include "analysis/report.h"
#include "cli/command.h"
#include "train/memory_estimate.h"
#include "util/atomic_file.h"
#include "util/memory_budget.h"

namespace bilmod {

namespace {
struct AnalyzeOptions {
  std::string checkpoint;
  bool json = false;
  std::vector<std::string> output_classes;
  bool over_training = false;
  std::string output_dir = "visualizations";
  std::string max_memory;
};

int run_single(const AnalyzeOptions& o) {
  MemoryBudget budget;
  if (Status s = memory_budget(o.max_memory, &budget); !s) return report_failure("analyze", s);
  auto shape_of = [&o](const ModelSpec& spec) {
    AnalysisShape shape;
    shape.spec = spec;
    std::vector<int64_t> classes;
    shape.classes = parse_output_classes(o.output_classes, spec.mod_basis, &classes) ? static_cast<int64_t>(classes.size()) : 3;
    shape.threads = worker_threads();
    return shape;
  };
  bool checked = false;
  if (Status s = check_memory_before_loading("analyze", o.checkpoint, shape_of, budget, &checked); !s)
    return report_failure("analyze", s);
  AnalysisInput input;
  if (Status s = load_analysis_input(o.checkpoint, &input); !s) return report_failure("analyze", s);
  AnalysisOptions options;
  if (Status s = parse_output_classes(o.output_classes, input.state.spec.mod_basis, &options.output_classes); !s)
    return report_failure("analyze", s);
  if (!checked) {
    AnalysisShape shape = shape_of(input.state.spec);
    shape.state_bytes = loaded_state_bytes(input.path);
    if (Status s = check_memory(analysis_memory(shape, "analyze"), budget); !s) return report_failure("analyze", s);
  }
  AnalysisReport report = analyze_checkpoint(input.state, options);
  report.checkpoint = input.path;
  report.source_format = input.format;
  report.split_known = input.split_known;
  report.notes.insert(report.notes.begin(), input.notes.begin(), input.notes.end());
  if (o.json) std::printf("%s\n", to_json(report).dump(2).c_str());
  else std::printf("%s", format_report(report).c_str());
  return 0;
}

int run_over_training(const AnalyzeOptions& o) {
  ProgressMeasures measures;
  MemoryBudget budget;
  if (Status s = memory_budget(o.max_memory, &budget); !s) return report_failure("analyze", s);
  auto writable = [&o] { return check_writable_dir(o.output_dir, "--output-dir"); };
  if (Status s = compute_progress_measures(o.checkpoint, budget, writable, &measures); !s) return report_failure("analyze", s);
  std::vector<std::string> written;
  if (Status s = write_progress_figures(measures, o.output_dir, &written); !s) return report_failure("analyze", s);
  if (o.json) {
    std::printf("%s\n", to_json(measures).dump(2).c_str());
  } else {
    std::printf("%s", format_progress_measures(measures).c_str());
    for (const auto& path : written) std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}
}  // namespace

CommandRunner setup_analyze_command(CLI::App* cmd) {
  auto o = std::make_shared<AnalyzeOptions>();
  cmd->add_option("checkpoint", o->checkpoint,
                  "Checkpoint (.safetensors, or a torch.save .pt of the PyTorch original), or a folder (its latest "
                  "checkpoint; with --over-training, all of them)")
      ->required();
  cmd->add_flag("--json", o->json, "Print the report as JSON");
  cmd->add_option("--output-classes", o->output_classes, "Output classes whose interaction matrix to decompose, or 'all' (default: 0 1 P-1)");
  cmd->add_flag("--over-training", o->over_training,
                "CHECKPOINT is a run's folder: compute the progress measures at every checkpoint and draw them against epoch");
  cmd->add_option("--output-dir", o->output_dir, "Where --over-training writes its figures");
  add_max_memory_option(cmd, &o->max_memory);
  return [o]() {
    if (o->over_training && !o->output_classes.empty())
      return report_failure("analyze", Status::usage("--output-classes does not apply with --over-training"));
    return o->over_training ? run_over_training(*o) : run_single(*o);
  };
}

}  // namespace bilmod
