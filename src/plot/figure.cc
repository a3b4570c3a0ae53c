#include "plot/figure.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "plot/gnuplot.h"
#include "util/atomic_file.h"

namespace bilmod {

namespace fs = std::filesystem;

std::string plain_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::string("_^@&{}~").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

namespace {

// Colours that stay distinct in print and for common colour-vision deficiencies (Tableau 10).
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// A double-quoted gnuplot string: backslashes and quotes escaped (enhanced-text escapes survive as "\\_").
std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string number(double x) {
  if (std::isnan(x)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

// Heatmap cells: 6 significant digits are far below what a colour can show, and keep a 2P x 2P grid small.
std::string cell(double x) {
  if (std::isnan(x)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

std::string range(const Axis& a) {
  return "[" + (a.min ? number(*a.min) : std::string("*")) + ":" + (a.max ? number(*a.max) : std::string("*")) + "]";
}

bool valid_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

struct ScriptWriter {
  std::ostringstream data, script;
  int block = 0;  // the next `index` in the data file

  int begin_block(const std::string& header) {
    if (block > 0) data << "\n\n";  // two blank lines end a gnuplot data block
    data << "# block " << block << ": " << header << "\n";
    return block++;
  }

  void axis_settings(const char* name, const Axis& a) {
    if (!a.label.empty()) script << "  set " << name << "label " << quote(a.label) << "\n";
    if (a.log) script << "  set logscale " << name << "\n  set format " << name << " '10^{%T}'\n";
    if (a.min || a.max) script << "  set " << name << "range " << range(a) << "\n";
    if (a.tic_step) script << "  set " << name << "tics " << number(*a.tic_step) << "\n";
  }

  void heatmap_panel(const Panel& panel, int panel_index) {
    const Heatmap& h = *panel.heatmap;
    const int index = begin_block("panel " + std::to_string(panel_index + 1) + " heatmap, " + std::to_string(h.rows) +
                                  " rows x " + std::to_string(h.cols) + " columns (row 0 first)");
    double lo = 0, hi = 0, magnitude = 0;
    for (double v : h.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v), magnitude = std::max(magnitude, std::abs(v));
    for (int64_t r = 0; r < h.rows; ++r) {
      for (int64_t c = 0; c < h.cols; ++c)
        data << (c ? " " : "") << cell(h.values[static_cast<size_t>(r * h.cols + c)]);
      data << "\n";
    }
    if (h.diverging) {
      // Blue-white-red (ColorBrewer RdBu), white exactly at 0.
      script << "  set palette defined (0 '#053061', 0.2 '#2166ac', 0.4 '#92c5de', 0.5 '#f7f7f7', 0.6 '#f4a582', "
                "0.8 '#b2182b', 1 '#67001f')\n";
      if (magnitude == 0) magnitude = 1;
      script << "  set cbrange [" << number(-magnitude) << ":" << number(magnitude) << "]\n";
    } else {
      script << "  set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')\n";
      if (hi == lo) hi = lo + 1;
      script << "  set cbrange [" << number(lo) << ":" << number(hi) << "]\n";
    }
    if (!h.colorbar_label.empty()) script << "  set cblabel " << quote(h.colorbar_label) << "\n";
    script << "  set cbtics scale 0.5\n  set format cb '%.2g'\n";
    script << "  set xrange [-0.5:" << number(static_cast<double>(h.cols) - 0.5) << "]\n";
    script << "  set yrange [" << number(static_cast<double>(h.rows) - 0.5) << ":-0.5]\n";
    script << "  set size ratio "
           << number(static_cast<double>(h.rows) / static_cast<double>(std::max<int64_t>(h.cols, 1))) << "\n";
    script << "  set tics out scale 0.5\n";
    for (double s : h.separators) {
      script << "  set arrow from " << number(s) << ",-0.5 to " << number(s) << ","
             << number(static_cast<double>(h.rows) - 0.5) << " nohead front lw 1 lc rgb '#222222'\n";
      script << "  set arrow from -0.5," << number(s) << " to " << number(static_cast<double>(h.cols) - 0.5) << ","
             << number(s) << " nohead front lw 1 lc rgb '#222222'\n";
    }
    script << "  plot datafile index " << index << " matrix with image notitle\n";
  }

  void series_panel(const Panel& panel, int panel_index) {
    script << "  set grid back lc rgb '#e0e0e0' lw 1\n";
    if (panel.legend)
      script << "  set key " << panel.legend_position << " samplen 2 spacing 1.1 opaque\n";
    else
      script << "  unset key\n";
    for (const Marker& m : panel.markers) {
      script << "  set arrow from " << number(m.x) << ", graph 0 to " << number(m.x)
             << ", graph 1 nohead back dt 2 lw 1 lc rgb '#777777'\n";
      if (!m.label.empty())
        script << "  set label " << quote(m.label) << " at " << number(m.x) << ", graph 0.96 left offset 0.4,0 font ',"
               << "9' tc rgb '#444444' front\n";
    }
    bool has_bars = false;
    std::vector<std::string> plots;
    int colour = 0;
    for (const Series& s : panel.series) {
      const int index = begin_block("panel " + std::to_string(panel_index + 1) + " series '" + s.label + "': x y");
      int64_t written = 0, drawable = 0;
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if ((panel.x.log && !(s.x[i] > 0)) || (panel.y.log && !(s.y[i] > 0))) continue;  // not drawable on a log axis
        data << number(s.x[i]) << " " << number(s.y[i]) << "\n";
        ++written;
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) ++drawable;
      }
      // A series with no point to draw (empty, all NaN, or nothing > 0 on a log axis) keeps a data block, so the
      // blocks after it keep their index (a block with no line in it merges with the next one, and every later
      // series would read its neighbour's data), but is left out of the plot: gnuplot stops at a plot with no valid
      // point ("x range is invalid"), e.g. --over-training's validation columns for checkpoints without a split.
      if (drawable == 0) {
        data << "# nothing to draw\n";
        if (written == 0) data << "NaN NaN\n";
        if (s.color.empty()) ++colour;  // the next series keeps its colour
        continue;
      }
      const std::string color = s.color.empty() ? kPalette[colour++ % 10] : s.color;
      const std::string lc = " lc rgb '" + color + "'";
      const std::string title = s.label.empty() ? " notitle" : " title " + quote(s.label);
      const std::string dash = s.dashed ? " dt 2" : "";
      const std::string source = "datafile index " + std::to_string(index) + " using 1:2";
      switch (s.style) {
        case SeriesStyle::kLines:
          plots.push_back(source + " with lines lw " + number(s.line_width) + dash + lc + title);
          break;
        case SeriesStyle::kPoints:
          plots.push_back(source + " with points pt 7 ps 0.6" + lc + title);
          break;
        case SeriesStyle::kLinesPoints:
          plots.push_back(source + " with linespoints lw " + number(s.line_width) + dash + " pt 7 ps 0.5" + lc + title);
          break;
        case SeriesStyle::kBars:
          has_bars = true;
          plots.push_back(source + " with boxes" + lc + title);
          break;
        case SeriesStyle::kStems:
          plots.push_back(source + " with impulses lw " + number(s.line_width) + lc + title);
          plots.push_back(source + " with points pt 7 ps 0.5" + lc + " notitle");
          break;
      }
    }
    if (has_bars)
      script << "  set style fill solid 0.85 noborder\n  set boxwidth " << number(panel.bar_width) << " absolute\n";
    if (plots.empty()) {
      // Nothing to draw: an empty frame (with fixed linear ranges on a log axis, whose range gnuplot cannot find
      // from no points), and a note where series were given but none had a value.
      if (!panel.series.empty() && panel.note.empty())
        script << "  set label \"no values to draw\" at graph 0.5, graph 0.5 center front\n";
      if (panel.x.log || panel.y.log) script << "  unset logscale\n  set xrange [0:1]\n  set yrange [0:1]\n";
      script << "  plot -1e300 notitle\n";
      return;
    }
    script << "  plot ";
    for (size_t i = 0; i < plots.size(); ++i) script << (i ? ", \\\n       " : "") << plots[i];
    script << "\n";
  }
};

}  // namespace

Status write_figure_files(const Figure& f, const std::string& dir, RenderedFigure* out) {
  if (!valid_name(f.name)) return Status::runtime("figure name '" + f.name + "' is not [A-Za-z0-9_-]+");
  if (f.panels.empty()) return Status::runtime("figure '" + f.name + "' has no panels");
  ScriptWriter w;
  const int columns = std::max(1, std::min<int>(f.columns, static_cast<int>(f.panels.size())));
  const int rows = (static_cast<int>(f.panels.size()) + columns - 1) / columns;
  w.data << "# bilmod figure '" << f.name << "': " << f.title << "\n# gnuplot data blocks, read with `index N`\n";
  std::ostringstream& s = w.script;
  s << "# bilmod figure '" << f.name << "': " << f.title << "\n";
  s << "# Draws " << f.name << ".png and " << f.name << ".svg from " << f.name
    << ".dat; restyle here and rerun `gnuplot " << f.name << ".gp` in this folder.\n";
  s << "datafile = '" << f.name << ".dat'\n";
  s << "do for [output_format = 1:2] {\n";
  s << "  if (output_format == 1) {\n";
  s << "    set terminal pngcairo size " << f.width << "," << f.height << " enhanced font 'DejaVu Sans," << f.font_size
    << "' background rgb 'white'\n";
  s << "    set output '" << f.name << ".png'\n";
  s << "  } else {\n";
  s << "    set terminal svg size " << f.width << "," << f.height << " dynamic enhanced font 'DejaVu Sans,"
    << f.font_size << "' background rgb 'white'\n";
  s << "    set output '" << f.name << ".svg'\n";
  s << "  }\n";
  s << "  set multiplot layout " << rows << "," << columns;
  if (!f.title.empty()) s << " title " << quote(f.title) << " font '," << f.font_size + 3 << "'";
  s << "\n";
  for (size_t i = 0; i < f.panels.size(); ++i) {
    const Panel& p = f.panels[i];
    s << "  # panel " << i + 1 << "\n  reset\n";
    if (!p.title.empty()) s << "  set title " << quote(p.title) << "\n";
    w.axis_settings("x", p.x);
    w.axis_settings("y", p.y);
    if (!p.note.empty()) s << "  set label " << quote(p.note) << " at graph 0.5, graph 0.5 center front\n";
    if (p.heatmap)
      w.heatmap_panel(p, static_cast<int>(i));
    else
      w.series_panel(p, static_cast<int>(i));
  }
  s << "  unset multiplot\n  set output\n}\n";
  const fs::path base = fs::path(dir) / f.name;
  RenderedFigure r;
  r.name = f.name;
  r.caption = f.caption;
  r.png = base.string() + ".png";
  r.svg = base.string() + ".svg";
  r.data = base.string() + ".dat";
  r.script = base.string() + ".gp";
  BILMOD_TRY(write_file_atomically(r.data, w.data.str()));
  BILMOD_TRY(write_file_atomically(r.script, s.str()));
  *out = r;
  return Status::ok();
}

Status render_figures(const std::vector<Figure>& figures, const std::string& dir, std::vector<RenderedFigure>* out) {
  std::string gnuplot;
  BILMOD_TRY(find_gnuplot(&gnuplot));  // before writing anything
  std::vector<GnuplotJob> jobs;
  std::vector<RenderedFigure> rendered;
  for (const Figure& f : figures) {
    RenderedFigure r;
    BILMOD_TRY(write_figure_files(f, dir, &r));
    jobs.push_back({dir, f.name + ".gp"});
    rendered.push_back(r);
  }
  BILMOD_TRY(run_gnuplot(jobs, 2));
  for (const RenderedFigure& r : rendered)
    for (const std::string& path : {r.png, r.svg}) {
      std::error_code ec;
      if (!fs::exists(path, ec) || fs::file_size(path, ec) == 0)
        return Status::runtime("gnuplot ran but did not write " + path);
    }
  out->insert(out->end(), rendered.begin(), rendered.end());
  return Status::ok();
}

}  // namespace bilmod
