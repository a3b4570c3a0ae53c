// index.html for a folder of figures (docs/FORMATS.md "Figures"): every figure with its caption and links to its
// SVG, data and script, and notes on what could not be drawn and why.
#pragma once
#include <string>
#include <vector>

#include "plot/figure.h"
#include "util/status.h"

namespace bilmod {

struct FigureIndex {
  std::string title;                 // page heading
  std::vector<std::string> summary;  // lines shown under the heading (plain text)
  std::vector<RenderedFigure> figures;
  std::vector<std::string> notes;  // what does not exist for this model, and why
};

// Writes {dir}/index.html (links are relative, so the folder can be moved or served as it is).
Status write_figure_index(const FigureIndex& index, const std::string& dir, std::string* path);

}  // namespace bilmod
