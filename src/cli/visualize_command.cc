// bilmod visualize-checkpoint: the seed's visualize module (interaction matrices, eigenvalue spectrum,
// eigenvectors of the first units) and beyond it the per-class matrices, the logits' Fourier spectrum and the
// training curves, as PNG + SVG with data and gnuplot scripts, and an index.html with captions.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "analysis/analysis_input.h"
#include "analysis/analysis_memory.h"
#include "analysis/checkpoint_figures.h"
#include "analysis/report.h"
#include "cli/checked_analysis_input.h"
#include "cli/command.h"
#include "plot/gnuplot.h"
#include "train/memory_estimate.h"
#include "util/atomic_file.h"
#include "util/memory_budget.h"

namespace bilmod {

namespace {
struct VisualizeOptions {
  std::string checkpoint;
  std::string output_dir = "visualizations";
  int64_t num_matrices = 9;
  int64_t num_eigenvectors = 5;
  std::vector<std::string> output_classes;
  std::string max_memory;
};

int run_visualize(const VisualizeOptions& o) {
  if (o.num_matrices < 1)
    return report_failure("visualize-checkpoint", Status::usage("--num-matrices must be at least 1"));
  if (o.num_eigenvectors < 1)
    return report_failure("visualize-checkpoint", Status::usage("--num-eigenvectors must be at least 1"));
  std::string gnuplot;
  if (Status s = find_gnuplot(&gnuplot); !s) return report_failure("visualize-checkpoint", s);
  auto shape_of = [&o](const ModelSpec& spec) {
    AnalysisShape shape;
    shape.spec = spec;
    std::vector<int64_t> classes;
    shape.classes =
        parse_output_classes(o.output_classes, spec.mod_basis, &classes) ? static_cast<int64_t>(classes.size()) : 3;
    shape.classes = std::min<int64_t>(shape.classes, kMaxClassPanels);
    shape.heatmaps = std::min(o.num_matrices, spec.hidden_dim) + shape.classes;
    shape.threads = worker_threads();
    return shape;
  };
  AnalysisInput input;
  if (Status s = load_checked_analysis_input("visualize-checkpoint", o.checkpoint, o.max_memory, shape_of, &input); !s)
    return report_failure("visualize-checkpoint", s);
  CheckpointFigureOptions options;
  if (Status s = parse_output_classes(o.output_classes, input.state.spec().mod_basis, &options.output_classes); !s)
    return report_failure("visualize-checkpoint", s);
  options.num_matrices = o.num_matrices;
  options.num_eigenvectors = o.num_eigenvectors;
  if (Status s = check_writable_dir(o.output_dir, "--output-dir"); !s) return report_failure("visualize-checkpoint", s);
  std::string index_path;
  std::vector<RenderedFigure> figures;
  if (Status s = draw_checkpoint_figures(input, options, o.output_dir, &figures, &index_path); !s)
    return report_failure("visualize-checkpoint", s);
  for (const auto& f : figures) std::printf("wrote %s (and .svg, .dat, .gp)\n", f.png.c_str());
  std::printf("wrote %s\n", index_path.c_str());
  return 0;
}
}  // namespace

CommandRunner setup_visualize_command(CLI::App* cmd) {
  auto o = std::make_shared<VisualizeOptions>();
  cmd->add_option(
         "checkpoint", o->checkpoint,
         "Checkpoint (.safetensors, or a torch.save .pt of the PyTorch original), or a folder (its latest checkpoint)")
      ->required();
  cmd->add_option("--output-dir", o->output_dir, "Folder for the figures and index.html");
  cmd->add_option("--num-matrices", o->num_matrices, "Hidden units whose interaction matrix to draw in the grid");
  cmd->add_option("--num-eigenvectors", o->num_eigenvectors, "Eigenvectors to draw per unit and per class");
  cmd->add_option("--output-classes", o->output_classes,
                  "Output classes whose interaction matrix to draw, or 'all' (default: 0 1 P-1)");
  add_max_memory_option(cmd, &o->max_memory);
  return [o]() { return run_visualize(*o); };
}

}  // namespace bilmod
