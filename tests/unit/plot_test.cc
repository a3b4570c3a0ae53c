// The plotting layer: every figure kind renders to a PNG and an SVG with its data and script beside it, the
// script reruns by itself, and a missing gnuplot is one error naming the Debian package.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "plot/figure.h"
#include "plot/gnuplot.h"
#include "plot/html_index.h"

namespace bilmod {
namespace {

namespace fs = std::filesystem;

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Figure every_kind() {
  Figure f;
  f.name = "every_kind";
  f.title = "Every kind of panel: x_k, {/Symbol l}";
  f.caption = "test";
  f.columns = 2;
  f.width = 1000;
  f.height = 800;
  Panel lines;
  lines.title = "log axes, " + plain_text("two_series & more");
  lines.x.label = "step";
  lines.x.log = lines.y.log = true;
  Series a, b;
  a.label = "train";
  b.label = "validation";
  b.dashed = true;
  for (int i = 0; i <= 50; ++i) {
    a.x.push_back(i);  // x = 0 is dropped on a log axis
    a.y.push_back(std::exp(-0.1 * i) + 1e-3);
    b.x.push_back(i);
    b.y.push_back(i == 20 ? NAN : std::exp(-0.05 * i) + 1e-3);
  }
  lines.series = {a, b};
  lines.markers = {{10, "k=10"}};
  Panel heat;
  heat.title = "heatmap";
  Heatmap h;
  h.rows = 20;
  h.cols = 30;
  for (int r = 0; r < h.rows; ++r)
    for (int c = 0; c < h.cols; ++c) h.values.push_back(std::cos(0.3 * r) * std::sin(0.2 * c) - 0.2);
  h.separators = {9.5};
  h.colorbar_label = "value";
  heat.heatmap = h;
  Panel bars;
  bars.title = "bars";
  Series bar;
  bar.style = SeriesStyle::kBars;
  for (int k = 1; k <= 10; ++k) bar.x.push_back(k), bar.y.push_back(k % 3);
  bars.series = {bar};
  Panel stems;
  stems.title = "stems";
  Series stem;
  stem.style = SeriesStyle::kStems;
  for (int k = 1; k <= 10; ++k) stem.x.push_back(k), stem.y.push_back(std::sin(k));
  stems.series = {stem};
  Panel empty;
  empty.note = "nothing to draw here";
  f.panels = {lines, heat, bars, stems, empty};
  return f;
}

TEST(Plot, RendersEveryPanelKind) {
  const fs::path dir = fs::temp_directory_path() / ("bilmod-plot-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<RenderedFigure> out;
  const Status s = render_figures({every_kind()}, dir.string(), &out);
  ASSERT_TRUE(s.is_ok()) << s.message();
  ASSERT_EQ(out.size(), 1u);
  const std::string png = read(out[0].png), svg = read(out[0].svg);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(png.size(), 10000u);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // The data file holds one block per series and heatmap; the script names only relative files.
  const std::string data = read(out[0].data), script = read(out[0].script);
  EXPECT_NE(data.find("# block 4"), std::string::npos);
  EXPECT_EQ(script.find(dir.string()), std::string::npos);
  // The index links everything relatively.
  FigureIndex index;
  index.title = "test <index>";
  index.figures = out;
  index.notes = {"a note & more"};
  std::string path;
  ASSERT_TRUE(write_figure_index(index, dir.string(), &path).is_ok());
  const std::string html = read(path);
  EXPECT_NE(html.find("src=\"every_kind.png\""), std::string::npos);
  EXPECT_NE(html.find("test &lt;index&gt;"), std::string::npos);
  fs::remove_all(dir);
}

// A series with nothing to draw (all NaN, as --over-training's validation columns are for checkpoints without a
// split; or nothing > 0 on a log axis) is left out of the plot and keeps its data block, so the series after it
// still read their own block. It used to leave an empty block, which merged with the next one: every later series
// read its neighbour's data, and gnuplot stopped at the last index ("x range is invalid").
TEST(Plot, LeavesOutSeriesWithNothingToDraw) {
  Figure f;
  f.name = "nothing_to_draw";
  Panel loss;
  loss.y.log = true;
  Series train, val, restricted;
  train.label = "train";
  val.label = "validation";
  restricted.label = "restricted";
  for (int i = 0; i < 3; ++i) {
    train.x.push_back(i), train.y.push_back(1.0 / (i + 1));
    val.x.push_back(i), val.y.push_back(NAN);
    restricted.x.push_back(i), restricted.y.push_back(2.0 / (i + 1));
  }
  loss.series = {train, val, restricted};
  Panel accuracy;  // linear axes, one series all NaN
  accuracy.series = {val};
  Panel only_nan;  // log axis, nothing at all to draw
  only_nan.y.log = true;
  only_nan.series = {val};
  Panel after;
  Series norm;
  norm.label = "weight norm";
  norm.x = {0, 1, 2};
  norm.y = {3, 4, 5};
  after.series = {norm};
  f.panels = {loss, accuracy, only_nan, after};
  const fs::path dir = fs::temp_directory_path() / ("bilmod-plot-nan-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<RenderedFigure> out;
  const Status s = render_figures({f}, dir.string(), &out);
  ASSERT_TRUE(s.is_ok()) << s.message();
  const std::string script = read(out[0].script), data = read(out[0].data);
  EXPECT_EQ(script.find("title \"validation\""), std::string::npos) << script;
  EXPECT_NE(script.find("index 2 using 1:2 with lines lw 2 lc rgb '#2ca02c' title \"restricted\""), std::string::npos)
      << "restricted keeps its block (2) and its colour\n"
      << script;
  EXPECT_NE(script.find("index 5 using 1:2"), std::string::npos) << script;
  EXPECT_NE(script.find("no values to draw"), std::string::npos) << script;
  // Block 1 (validation on the log axis) is there and holds a line, so block 2 is restricted's.
  const size_t block1 = data.find("# block 1:"), block2 = data.find("# block 2:");
  ASSERT_NE(block1, std::string::npos);
  ASSERT_NE(block2, std::string::npos);
  EXPECT_NE(data.substr(block1, block2 - block1).find("NaN NaN"), std::string::npos) << data;
  EXPECT_NE(data.find("# block 5: panel 4 series 'weight norm'"), std::string::npos) << data;
  fs::remove_all(dir);
}

TEST(Plot, MissingGnuplotNamesThePackage) {
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  const fs::path empty = fs::temp_directory_path() / ("bilmod-empty-path-" + std::to_string(::getpid()));
  fs::create_directories(empty);
  ::setenv("PATH", empty.c_str(), 1);
  ::unsetenv("BILMOD_GNUPLOT");
  std::string path;
  const Status s = find_gnuplot(&path);
  std::vector<RenderedFigure> out;
  const Status r = render_figures({every_kind()}, empty.string(), &out);
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("gnuplot-nox"), std::string::npos) << s.message();
  EXPECT_EQ(s.exit_code(), 1);
  EXPECT_FALSE(r.is_ok());
  EXPECT_TRUE(fs::is_empty(empty)) << "nothing is written when gnuplot is missing";
  fs::remove_all(empty);
}

TEST(Plot, RejectsBadFigureNames) {
  Figure f = every_kind();
  f.name = "../escape";
  RenderedFigure r;
  EXPECT_FALSE(write_figure_files(f, fs::temp_directory_path().string(), &r).is_ok());
}

}  // namespace
}  // namespace bilmod
