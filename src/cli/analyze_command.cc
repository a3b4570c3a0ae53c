// bilmod analyze: what a trained model computes, in numbers (docs/MODELS.md "Analysis"): interaction-matrix spectra,
// key frequencies, restricted and excluded loss, the input weights' Gini coefficient, accuracy recomputed.
// With --over-training, the same for every checkpoint of a run, drawn against epoch (Nanda et al. 2023).
// With --hosvd, the upstream's flattened SVD of the bilinear tensor instead (analysis/hosvd.h).
#include <cstdio>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>

#include "analysis/analysis_input.h"
#include "analysis/analysis_memory.h"
#include "analysis/hosvd.h"
#include "analysis/hosvd_output.h"
#include "analysis/interaction_matrices.h"
#include "analysis/model_weights.h"
#include "analysis/progress_measures.h"
#include "analysis/report.h"
#include "cli/checked_analysis_input.h"
#include "cli/command.h"
#include "model/model.h"
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
  bool hosvd = false;
  int64_t top_k = 10;
  std::string output;  // --hosvd's safetensors file; default <output-dir>/hosvd.safetensors
};

int run_single(const AnalyzeOptions& o) {
  auto shape_of = [&o](const ModelSpec& spec) {
    AnalysisShape shape;
    shape.spec = spec;
    std::vector<int64_t> classes;
    shape.classes =
        parse_output_classes(o.output_classes, spec.mod_basis, &classes) ? static_cast<int64_t>(classes.size()) : 3;
    shape.threads = worker_threads();
    return shape;
  };
  AnalysisInput input;
  if (Status s = load_checked_analysis_input("analyze", o.checkpoint, o.max_memory, shape_of, &input); !s)
    return report_failure("analyze", s);
  AnalysisOptions options;
  if (Status s = parse_output_classes(o.output_classes, input.state.spec().mod_basis, &options.output_classes); !s)
    return report_failure("analyze", s);
  AnalysisReport report = analyze_checkpoint(input.state, options);
  report.checkpoint = input.path;
  report.source_format = input.format;
  report.split_known = input.split_known;
  report.notes.insert(report.notes.begin(), input.notes.begin(), input.notes.end());
  if (o.json)
    std::printf("%s\n", to_json(report).dump(2).c_str());
  else
    std::printf("%s", format_report(report).c_str());
  return 0;
}

int run_hosvd(const AnalyzeOptions& o) {
  if (o.top_k < 1)
    return report_failure("analyze", Status::usage("--top-k must be at least 1, got " + std::to_string(o.top_k)));
  const std::string output =
      o.output.empty() ? (std::filesystem::path(o.output_dir) / "hosvd.safetensors").string() : o.output;
  if (Status s = check_writable_dir(o.output_dir, "--output-dir"); !s) return report_failure("analyze", s);
  const std::string output_parent = std::filesystem::path(output).parent_path().string();
  if (Status s = check_writable_dir(output_parent.empty() ? "." : output_parent, "--output"); !s)
    return report_failure("analyze", s);
  auto shape_of = [&o](const ModelSpec& spec) {
    AnalysisShape shape;
    shape.spec = spec;
    shape.hosvd_top_k = o.top_k;
    return shape;
  };
  AnalysisInput input;
  if (Status s = load_checked_analysis_input("analyze", o.checkpoint, o.max_memory, shape_of, &input); !s)
    return report_failure("analyze", s);
  const ModelSpec& spec = input.state.spec();
  if (!has_interaction_matrices(spec))
    return report_failure(
        "analyze",
        Status::usage("--hosvd: " + input.path + " holds a " + model_of(spec).describe(spec) +
                      ", which has no bilinear tensor; --hosvd reads bilinear, factored and mlp --activation quad"));
  const ModelWeights w = model_weights(spec, input.state.layout(), input.state.params);
  HosvdReport report;
  report.checkpoint = input.path;
  report.source_format = input.format;
  report.model = model_of(spec).name();
  report.mod_basis = spec.mod_basis;
  report.tensor = hosvd_tensor_name(w);
  report.svd = flattened_svd(w, o.top_k);
  report.output = output;
  if (Status s = write_file_atomically(output, serialize_safetensors(hosvd_tensors(report))); !s)
    return report_failure("analyze", s);
  std::vector<RenderedFigure> rendered;
  if (Status s = render_figures({hosvd_figure(report, w)}, o.output_dir, &rendered); !s)
    return report_failure("analyze", s);
  for (const auto& f : rendered) report.figures.push_back(f.png);
  if (o.json) {
    std::printf("%s\n", to_json(report).dump(2).c_str());
  } else {
    std::printf("%s", format_hosvd(report).c_str());
    std::printf("wrote %s (U, S, Vh)\n", output.c_str());
    for (const auto& f : rendered) std::printf("wrote %s (and .svg, .dat, .gp)\n", f.png.c_str());
  }
  return 0;
}

int run_over_training(const AnalyzeOptions& o) {
  ProgressMeasures measures;
  MemoryBudget budget;
  if (Status s = memory_budget(o.max_memory, &budget); !s) return report_failure("analyze", s);
  auto writable = [&o] { return check_writable_dir(o.output_dir, "--output-dir"); };
  if (Status s = compute_progress_measures(o.checkpoint, budget, writable, &measures); !s)
    return report_failure("analyze", s);
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
  cmd->add_option("--output-classes", o->output_classes,
                  "Output classes whose interaction matrix to decompose, or 'all' (default: 0 1 P-1)");
  cmd->add_flag(
      "--over-training", o->over_training,
      "CHECKPOINT is a run's folder: compute the progress measures at every checkpoint and draw them against epoch");
  cmd->add_option("--output-dir", o->output_dir, "Where --over-training and --hosvd write their figures");
  cmd->add_flag(
      "--hosvd", o->hosvd,
      "Instead of the report: the flattened SVD of the bilinear tensor, (H, n, n) reshaped to (H, n^2), as the "
      "upstream's eigendecompose (bilinear, factored, mlp --activation quad); writes U, S, Vh and a figure");
  CLI::Option* cmd_top_k =
      cmd->add_option("--top-k", o->top_k, "--hosvd: how many singular triplets to keep (default 10)");
  CLI::Option* cmd_output = cmd->add_option(
      "--output", o->output, "--hosvd: the safetensors file of U, S and Vh (default OUTPUT_DIR/hosvd.safetensors)");
  add_max_memory_option(cmd, &o->max_memory);
  return [o, cmd_top_k, cmd_output]() {
    if (o->over_training && !o->output_classes.empty())
      return report_failure("analyze", Status::usage("--output-classes does not apply with --over-training"));
    if (o->hosvd && o->over_training)
      return report_failure("analyze", Status::usage("--hosvd and --over-training are different reports: give one"));
    if (o->hosvd && !o->output_classes.empty())
      return report_failure("analyze",
                            Status::usage("--output-classes does not apply with --hosvd (it decomposes every output)"));
    if (!o->hosvd && (cmd_top_k->count() > 0 || cmd_output->count() > 0))
      return report_failure("analyze", Status::usage("--top-k and --output apply only with --hosvd"));
    if (o->hosvd) return run_hosvd(*o);
    return o->over_training ? run_over_training(*o) : run_single(*o);
  };
}

}  // namespace bilmod
