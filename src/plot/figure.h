// Figures as data (docs/FORMATS.md "Figures"): a Figure is a grid of panels, each a line/point/bar/stem plot of
// several series or a heatmap. Rendering writes, beside each other in one folder,
//   NAME.dat  every panel's data (gnuplot data blocks, selected by `index`, each headed by a comment),
//   NAME.gp   the gnuplot script that draws NAME.png and NAME.svg from NAME.dat (rerun: `gnuplot NAME.gp`),
// and runs gnuplot (plot/gnuplot.h). Text is gnuplot "enhanced" text: x_k subscripts, x^2 superscripts;
// pass free text through plain_text() to keep it literal.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace bilmod {

enum class SeriesStyle { kLines, kPoints, kLinesPoints, kBars, kStems };

struct Series {
  std::string label;         // legend entry; empty: none
  std::vector<double> x, y;  // same length; NaN leaves a gap
  SeriesStyle style = SeriesStyle::kLines;
  std::string color;  // "#rrggbb"; empty: the next colour of the palette
  double line_width = 2;
  bool dashed = false;
};

struct Axis {
  std::string label;
  bool log = false;  // points <= 0 are left out on a log axis
  std::optional<double> min, max;
  std::optional<double> tic_step;  // distance between major tics; default: gnuplot's choice
};

// A matrix drawn as an image: row r at height r (row 0 at the top, as a matrix is printed), column c at x = c.
struct Heatmap {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // (rows, cols) row-major
  bool diverging = true;       // blue-white-red centred at 0, range +-max|v|; else a sequential map
  std::string colorbar_label;
  std::vector<double> separators;  // draw a thin line before this row and column (e.g. P - 0.5 between blocks)
};

struct Marker {
  double x = 0;       // a vertical dashed line at x
  std::string label;  // written near the top of the panel
};

struct Panel {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  std::optional<Heatmap> heatmap;  // a heatmap panel draws no series
  std::vector<Marker> markers;
  bool legend = true;
  std::string legend_position = "top right";  // gnuplot `set key` position words
  std::string note;                           // centred text when the panel has nothing to draw
  double bar_width = 0.8;                     // width of kBars boxes in x units (bars at integer x: 0.8 leaves gaps)
};

struct Figure {
  std::string name;               // file stem: [A-Za-z0-9_-]+
  std::string title;              // drawn above the whole grid
  std::string caption;            // shown under the figure in index.html
  int columns = 1;                // panels per row; rows follow
  int width = 900, height = 600;  // pixels (PNG) and points (SVG)
  int font_size = 11;
  std::vector<Panel> panels;
};

struct RenderedFigure {
  std::string name, caption;
  std::string png, svg, data, script;  // paths
};

// Escapes gnuplot's enhanced-text characters (_ ^ @ & { } ~) so `text` prints as it is.
std::string plain_text(const std::string& text);

// Writes NAME.dat and NAME.gp into dir (which must exist) without running gnuplot.
Status write_figure_files(const Figure& figure, const std::string& dir, RenderedFigure* out);

// write_figure_files for every figure, then gnuplot on all of them (two at a time), then checks that every
// PNG and SVG exists and is not empty.
Status render_figures(const std::vector<Figure>& figures, const std::string& dir, std::vector<RenderedFigure>* out);

}  // namespace bilmod
