// bilmod runs: the projects in the tracking folder, a project's runs in a table, and `runs export` for one
// run's rows. Reads trackio's store whether bilmod or trackio wrote it; never writes it.
#include <cmath>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "tracking/run_export.h"
#include "tracking/run_summary.h"
#include "tracking/tracking_folder.h"
#include "util/atomic_file.h"

namespace bilmod {

namespace {

struct RunsOptions {
  std::string project;  // empty: list the projects
  std::string tracking_dir;
};

struct ExportOptions {
  std::string run;
  std::string format;
  std::string output;  // empty: stdout
  std::string project = "bilinear-modular-arithmetic";
  std::string tracking_dir;
};

std::string accuracy_cell(double accuracy) {
  if (accuracy < 0) return "-";
  char text[16];
  std::snprintf(text, sizeof text, "%.3f", accuracy);
  return text;
}

std::string duration_cell(double seconds) {
  const auto total = static_cast<long long>(std::llround(seconds));
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  return text;
}

// Columns padded to their widest cell, so the table reads in a terminal and splits on whitespace in a script.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

int list_projects_table(const std::string& dir) {
  const std::vector<std::string> projects = list_projects(dir);
  if (projects.empty()) {
    std::printf("no projects in %s\n", dir.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> table = {{"project", "runs", "last_logged"}};
  for (const std::string& project : projects) {
    std::unique_ptr<TrackioStore> store;
    std::vector<StoredRun> runs;
    Status s = TrackioStore::open_for_reading(dir, project, &store);
    if (s) s = store->list_runs(&runs);
    if (!s) {
      table.push_back({project, "?", "unreadable: " + s.message()});
      continue;
    }
    std::string last;
    for (const StoredRun& run : runs) last = std::max(last, run.last_timestamp);
    table.push_back({project, std::to_string(runs.size()), last.empty() ? "-" : last.substr(0, 19)});
  }
  std::printf("tracking folder %s\n", dir.c_str());
  print_table(table);
  return 0;
}

int list_runs_table(const std::string& dir, const std::string& project) {
  std::unique_ptr<TrackioStore> store;
  if (Status s = TrackioStore::open_for_reading(dir, project, &store); !s) return report_failure("runs", s);
  std::vector<RunSummary> summaries;
  if (Status s = summarise_runs(store.get(), &summaries); !s) return report_failure("runs", s);
  if (summaries.empty()) {
    std::printf("no runs in project %s (%s)\n", project.c_str(), store->path().c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> table = {
      {"name", "model", "P", "epochs", "train_acc", "val_acc", "val_acc>=0.99_epoch", "wall_time", "group", "run_id"}};
  for (const RunSummary& s : summaries) {
    std::string epochs = s.epochs_done < 0 ? "-" : std::to_string(s.epochs_done);
    if (s.epochs_planned >= 0 && s.epochs_done < s.epochs_planned) epochs += "/" + std::to_string(s.epochs_planned);
    table.push_back({s.run.run_name, s.model.empty() ? "-" : s.model,
                     s.mod_basis < 0 ? "-" : std::to_string(s.mod_basis), epochs, accuracy_cell(s.final_train_accuracy),
                     accuracy_cell(s.final_val_accuracy),
                     s.generalised_epoch < 0 ? "never" : std::to_string(s.generalised_epoch),
                     duration_cell(s.wall_seconds), s.group.empty() ? "-" : s.group, s.run.run_id});
  }
  std::printf("project %s (%s)\n", project.c_str(), store->path().c_str());
  print_table(table);
  return 0;
}

int run_export(const ExportOptions& o, const std::string& parent_dir) {
  if (o.format != "csv" && o.format != "jsonl")
    return report_failure("runs export", Status::usage("--format '" + o.format + "' is not known: use csv or jsonl"));
  if (Status s = check_project_name(o.project, "--project"); !s) return report_failure("runs export", s);
  const std::string dir = resolve_tracking_dir(o.tracking_dir.empty() ? parent_dir : o.tracking_dir);
  std::unique_ptr<TrackioStore> store;
  if (Status s = TrackioStore::open_for_reading(dir, o.project, &store); !s) return report_failure("runs export", s);
  StoredRun run;
  if (Status s = store->find_run(o.run, &run); !s) return report_failure("runs export", s);
  std::vector<StoredRow> rows;
  if (Status s = store->read_rows(run.run_id, 0, &rows); !s) return report_failure("runs export", s);
  const std::string text = o.format == "csv" ? export_csv(rows) : export_jsonl(rows);
  if (o.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : report_failure("runs export", Status::runtime("cannot write to stdout"));
  }
  if (Status s = write_file_atomically(o.output, text); !s) return report_failure("runs export", s);
  std::fprintf(stderr, "wrote %s: run %s, %zu rows\n", o.output.c_str(), run.run_name.c_str(), rows.size());
  return 0;
}

}  // namespace

CommandRunner setup_runs_command(CLI::App* cmd) {
  auto o = std::make_shared<RunsOptions>();
  auto e = std::make_shared<ExportOptions>();
  cmd->add_option("--project", o->project, "List this project's runs (default: list the projects)");
  cmd->add_option("--tracking-dir", o->tracking_dir, kTrackingDirHelp);
  CLI::App* ex = cmd->add_subcommand("export", "One run's metrics, one row per step, as CSV or JSON lines");
  ex->add_option("run", e->run, "Run name or run id")->required();
  ex->add_option("--format", e->format, "csv or jsonl")->required();
  ex->add_option("--output", e->output, "Output file (default: stdout)");
  ex->add_option("--project", e->project, "Tracking project");
  ex->add_option("--tracking-dir", e->tracking_dir, "Tracking folder (as for bilmod runs)");
  return [o, e, ex]() {
    if (ex->parsed()) return run_export(*e, o->tracking_dir);
    const std::string dir = resolve_tracking_dir(o->tracking_dir);
    if (o->project.empty()) return list_projects_table(dir);
    if (Status s = check_project_name(o->project, "--project"); !s) return report_failure("runs", s);
    return list_runs_table(dir, o->project);
  };
}

}  // namespace bilmod
