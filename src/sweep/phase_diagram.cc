#include "sweep/phase_diagram.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "util/atomic_file.h"

namespace bilmod {

namespace fs = std::filesystem;
using nlohmann::json;

Status choose_phase_axes(const std::string& axes_flag, const std::string& metric, const SweepSpec& spec,
                         PhaseDiagramRequest* request) {
  *request = PhaseDiagramRequest{};
  request->metric = metric;
  std::vector<const GridAxis*> chosen;
  if (!axes_flag.empty()) {
    const size_t comma = axes_flag.find(',');
    if (comma == std::string::npos)
      return Status::usage("--phase-axes '" + axes_flag +
                           "' must be two swept settings X,Y (e.g. train-frac,weight-decay)");
    for (const std::string& name : {axes_flag.substr(0, comma), axes_flag.substr(comma + 1)}) {
      std::string key;
      BILMOD_TRY(setting_key(name, &key));
      const GridAxis* found = nullptr;
      for (const GridAxis& axis : spec.axes)
        if (axis.key == key) found = &axis;
      if (!found) return Status::usage("--phase-axes names --" + flag_name(key) + ", which this sweep does not sweep");
      chosen.push_back(found);
    }
    if (chosen[0] == chosen[1]) return Status::usage("--phase-axes needs two different settings");
  } else {
    for (const GridAxis& axis : spec.axes)
      if (axis.key != "seed" && axis.values.size() > 1 && chosen.size() < 2) chosen.push_back(&axis);
    if (chosen.size() < 2) return Status::ok();  // nothing two-dimensional to draw
  }
  request->enabled = true;
  request->x_key = chosen[0]->key;
  request->x_values = chosen[0]->values;
  request->y_key = chosen[1]->key;
  request->y_values = chosen[1]->values;
  return Status::ok();
}

std::vector<std::vector<PhaseCell>> phase_cells(const PhaseDiagramRequest& request, const std::vector<RunSpec>& runs,
                                                const std::map<int64_t, RunResult>& results) {
  std::vector<std::vector<PhaseCell>> cells(request.y_values.size(), std::vector<PhaseCell>(request.x_values.size()));
  std::vector<std::vector<double>> sums(request.y_values.size(), std::vector<double>(request.x_values.size(), 0.0));
  auto position = [](const std::vector<json>& values, const json& v) {
    for (size_t i = 0; i < values.size(); ++i)
      if (values[i] == v) return static_cast<long>(i);
    return -1L;
  };
  for (const RunSpec& run : runs) {
    const auto found = results.find(run.index);
    if (found == results.end() || found->second.status != RunStatus::kFinished) continue;
    const long xi = position(request.x_values, run.settings.value(request.x_key, json()));
    const long yi = position(request.y_values, run.settings.value(request.y_key, json()));
    if (xi < 0 || yi < 0) continue;
    PhaseCell& cell = cells[static_cast<size_t>(yi)][static_cast<size_t>(xi)];
    cell.runs += 1;
    const RunResult& r = found->second;
    if (request.metric == "grok-epoch") {
      if (r.val_milestone_epoch) {
        cell.with_value += 1;
        sums[static_cast<size_t>(yi)][static_cast<size_t>(xi)] += static_cast<double>(*r.val_milestone_epoch);
      }
    } else if (r.metrics.contains("val/accuracy") && r.metrics.at("val/accuracy").is_number()) {
      cell.with_value += 1;
      sums[static_cast<size_t>(yi)][static_cast<size_t>(xi)] += r.metrics.at("val/accuracy").get<double>();
    }
  }
  for (size_t y = 0; y < cells.size(); ++y)
    for (size_t x = 0; x < cells[y].size(); ++x)
      cells[y][x].value = cells[y][x].with_value > 0 ? sums[y][x] / cells[y][x].with_value : NAN;
  return cells;
}

namespace {

// A gnuplot string literal (single quotes: only '' needs escaping).
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Enhanced text reads _ ^ @ & ~ { } as markup ("cross_entropy" would print a subscript e): each escaped with a
// backslash, which a single-quoted string passes through to the text processor.
std::string literal_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("_^@&~{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string tics(const std::vector<json>& values) {
  std::string t = "(";
  for (size_t i = 0; i < values.size(); ++i)
    t += (i ? ", " : "") + quoted(literal_text(format_setting_value(values[i]))) + " " + std::to_string(i);
  return t + ")";
}

}  // namespace

Status draw_phase_diagram(const std::string& output_dir, const PhaseDiagramRequest& request,
                          const std::vector<RunSpec>& runs, const std::map<int64_t, RunResult>& results,
                          std::string* note) {
  const auto cells = phase_cells(request, runs, results);
  const bool grok = request.metric == "grok-epoch";
  // The data: one line per cell, blank lines between rows (gnuplot's grid layout). NaN marks "no value".
  std::string dat = "# phase diagram of sweep cells: x_index y_index " + request.x_key + " " + request.y_key + " " +
                    (grok ? "mean_epoch_val_acc_0.99" : "mean_final_val_accuracy") + " runs runs_with_value label\n";
  for (size_t y = 0; y < cells.size(); ++y) {
    for (size_t x = 0; x < cells[y].size(); ++x) {
      const PhaseCell& c = cells[y][x];
      char value[64];
      if (std::isnan(c.value))
        std::snprintf(value, sizeof value, "NaN");
      else
        std::snprintf(value, sizeof value, "%.6g", c.value);
      // The cell's caption: its value, "never" (runs finished, none grokked) or "-" (no finished run).
      char label[64];
      if (c.runs == 0)
        std::snprintf(label, sizeof label, "-");
      else if (std::isnan(c.value))
        std::snprintf(label, sizeof label, "never");
      else
        std::snprintf(label, sizeof label, grok ? "%.0f" : "%.3f", c.value);
      dat += std::to_string(x) + " " + std::to_string(y) + " " + format_setting_value(request.x_values[x]) + " " +
             format_setting_value(request.y_values[y]) + " " + value + " " + std::to_string(c.runs) + " " +
             std::to_string(c.with_value) + " " + label + "\n";
    }
    dat += "\n";
  }
  const fs::path dir(output_dir);
  BILMOD_TRY(write_file_atomically((dir / "phase_diagram.dat").string(), dat));

  const std::string title =
      grok ? "epoch validation accuracy first reached 0.99 (mean over seeds; grey: not within the run)"
           : "final validation accuracy (mean over seeds)";
  std::string gp;
  gp += "# Draws phase_diagram.png and .svg from phase_diagram.dat: gnuplot phase_diagram.gp (in this folder)\n";
  gp += "set title " + quoted(title) + " font ',10'\n";
  gp += "set xlabel " + quoted("--" + flag_name(request.x_key)) + "\n";
  gp += "set ylabel " + quoted("--" + flag_name(request.y_key)) + "\n";
  gp += "set xtics " + tics(request.x_values) + "\n";
  gp += "set ytics " + tics(request.y_values) + "\n";
  gp += "set xrange [-0.5:" + std::to_string(request.x_values.size()) + "-0.5]\n";
  gp += "set yrange [-0.5:" + std::to_string(request.y_values.size()) + "-0.5]\n";
  gp += "set cblabel " + quoted(grok ? "epoch" : "accuracy") + "\n";
  gp += grok ? "set palette defined (0 '#1a9850', 0.5 '#fee08b', 1 '#d73027')\n"
             : "set palette defined (0 '#d73027', 0.5 '#fee08b', 1 '#1a9850')\nset cbrange [0:1]\n";
  gp += "set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#dddddd' fillstyle solid noborder\n";
  gp += "set datafile missing 'NaN'\nunset key\n";
  gp += "do for [format in 'pngcairo svg'] {\n";
  gp +=
      "  if (format eq 'pngcairo') { set terminal pngcairo size 900,640 font 'sans,10'; set output 'phase_diagram.png' "
      "} "
      "else { set terminal svg size 900,640 font 'sans,10'; set output 'phase_diagram.svg' }\n";
  // Boxes, not `with image`: a cell without a value (NaN, missing) is then simply not drawn, and shows grey.
  gp +=
      "  plot 'phase_diagram.dat' using 1:2:(0.5):(0.5):5 with boxxyerror fillstyle solid 1.0 noborder lc palette, \\\n"
      "       '' using 1:2:8 with labels font ',9'\n";
  gp += "}\n";
  BILMOD_TRY(write_file_atomically((dir / "phase_diagram.gp").string(), gp));
  // gnuplot runs in the folder so the script stays relocatable; its chatter goes to a log, not the terminal.
  // fork + exec, not system(): the folder's name never passes through a shell.
  const std::string log_path = (dir / "phase_diagram.log").string();
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    if (chdir(dir.c_str()) != 0) _exit(127);
    execlp("gnuplot", "gnuplot", "phase_diagram.gp", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = -1;
  if (pid > 0)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::runtime("gnuplot failed (is gnuplot-nox installed? see " + (dir / "phase_diagram.log").string() +
                           "); the data and script are in " + output_dir);
  std::error_code ec;
  fs::remove(dir / "phase_diagram.log", ec);
  *note = (dir / "phase_diagram.png").string();
  return Status::ok();
}

}  // namespace bilmod
