// bilmod plot-run: the grokking picture of tracked runs, from the tracking store: train and validation
// accuracy and loss against epoch on a log axis, several runs overlaid, drawn by the plotting layer (plot/):
// PNG and SVG, with the data and the gnuplot script beside them and an index.html (docs/FORMATS.md "Figures").
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "plot/figure.h"
#include "plot/html_index.h"
#include "tracking/run_summary.h"
#include "tracking/tracking_folder.h"

namespace bilmod {

namespace {

namespace fs = std::filesystem;

struct PlotRunOptions {
  std::vector<std::string> runs;
  std::string output;
  std::string project = "bilinear-modular-arithmetic";
  std::string tracking_dir;
};

// The run's evaluations as (epoch, value) columns for one metric.
Series metric_series(const std::vector<StoredRow>& rows, const char* metric, const std::string& label,
                     const std::string& color, bool dashed) {
  Series s;
  s.label = plain_text(label);
  s.color = color;
  s.dashed = dashed;
  for (const StoredRow& row : rows) {
    double epoch, value;
    if (!row.metrics.contains("epoch") || !row.metrics.contains(metric)) continue;
    if (!metric_as_number(row.metrics["epoch"], &epoch) || !metric_as_number(row.metrics[metric], &value)) continue;
    s.x.push_back(epoch);
    s.y.push_back(value);
  }
  return s;
}

int run_plot_run(const PlotRunOptions& o) {
  const std::string name = "plot-run";
  const fs::path output(o.output);
  const std::string extension = output.extension().string();
  if (extension != ".png" && extension != ".svg")
    return report_failure(name, Status::usage("--output " + o.output + " must end in .png or .svg (both are written)"));
  const std::string stem = output.stem().string();
  if (!is_valid_project_name(stem))  // the same rule as figure names: [A-Za-z0-9_-]
    return report_failure(name, Status::usage("--output " + o.output +
                                              ": the file name may hold only letters, digits, "
                                              "'_' and '-' before its extension"));
  if (Status s = check_project_name(o.project, "--project"); !s) return report_failure(name, s);
  std::unique_ptr<TrackioStore> store;
  const std::string dir = resolve_tracking_dir(o.tracking_dir);
  if (Status s = TrackioStore::open_for_reading(dir, o.project, &store); !s) return report_failure(name, s);

  static const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  Figure figure;
  figure.name = stem;
  figure.title = plain_text(o.runs.size() == 1 ? "run " + o.runs.front() : std::to_string(o.runs.size()) + " runs");
  figure.columns = 2;
  figure.width = 1200;
  figure.height = 500;
  Panel accuracy, loss;
  accuracy.title = "accuracy (solid: train, dashed: validation)";
  accuracy.x.label = "epoch";
  accuracy.x.log = true;
  accuracy.y.label = "accuracy";
  accuracy.y.min = -0.02;
  accuracy.y.max = 1.02;
  accuracy.legend_position = "top left";
  loss.title = "loss (solid: train, dashed: validation)";
  loss.x.label = "epoch";
  loss.x.log = true;
  loss.y.label = "cross-entropy";
  loss.y.log = true;
  // Losses start near log P at the left and fall: the lower left is empty, while the upper right is where the
  // validation loss stays high until the run generalises, the part of the picture a key must not hide.
  loss.legend_position = "bottom left";
  std::string caption = "Train (solid) and validation (dashed) accuracy and loss against epoch, log x";
  for (size_t i = 0; i < o.runs.size(); ++i) {
    StoredRun run;
    if (Status s = store->find_run(o.runs[i], &run); !s) return report_failure(name, s);
    std::vector<StoredRow> rows;
    if (Status s = store->read_epoch_rows(run.run_id, &rows); !s) return report_failure(name, s);
    if (rows.empty())
      return report_failure(name,
                            Status::runtime("run " + run.run_name + " has no evaluation rows yet: nothing to plot"));
    const std::string color = kPalette[i % std::size(kPalette)];
    const RunSummary summary = summarise_run(run, rows);
    accuracy.series.push_back(metric_series(rows, "train/accuracy", run.run_name + " train", color, false));
    accuracy.series.push_back(metric_series(rows, "val/accuracy", run.run_name + " val", color, true));
    loss.series.push_back(metric_series(rows, "train/loss", run.run_name + " train", color, false));
    loss.series.push_back(metric_series(rows, "val/loss", run.run_name + " val", color, true));
    caption += "; " + run.run_name + (summary.model.empty() ? "" : " (" + summary.model + ")") +
               (summary.generalised_epoch < 0
                    ? ": validation accuracy never reached 99 %"
                    : ": validation accuracy >= 99 % from epoch " + std::to_string(summary.generalised_epoch));
  }
  figure.caption = caption + ". Epoch 0 has no place on the log axis.";
  figure.panels = {accuracy, loss};

  const std::string out_dir = output.parent_path().empty() ? "." : output.parent_path().string();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return report_failure(name, Status::runtime("cannot create " + out_dir + ": " + ec.message()));
  std::vector<RenderedFigure> rendered;
  if (Status s = render_figures({figure}, out_dir, &rendered); !s) return report_failure(name, s);
  FigureIndex index;
  index.title = "bilmod plot-run";
  index.summary = {"project " + o.project + " in " + dir};
  index.figures = rendered;
  std::string index_path;
  if (Status s = write_figure_index(index, out_dir, &index_path); !s) return report_failure(name, s);
  for (const RenderedFigure& r : rendered)
    std::printf("wrote %s and %s (data %s, script %s; %s)\n", r.png.c_str(), r.svg.c_str(), r.data.c_str(),
                r.script.c_str(), index_path.c_str());
  return 0;
}

}  // namespace

CommandRunner setup_plot_run_command(CLI::App* cmd) {
  auto o = std::make_shared<PlotRunOptions>();
  cmd->add_option("runs", o->runs, "Run names or ids (several are overlaid)")->required();
  cmd->add_option("--output", o->output, "FILE.png or FILE.svg: both are written, with FILE.dat, FILE.gp, index.html")
      ->required();
  cmd->add_option("--project", o->project, "Tracking project");
  cmd->add_option("--tracking-dir", o->tracking_dir, kTrackingDirHelp);
  return [o]() { return run_plot_run(*o); };
}

}  // namespace bilmod
