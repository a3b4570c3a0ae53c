// The sweep's phase diagram: a heatmap over two swept settings (x, y) of the epoch validation accuracy first
// reached 0.99 (the epoch of grokking) or of the final validation accuracy, each cell the mean over the runs
// that share its (x, y) (seeds, other axes). Beside the PNG and SVG: the cell data and the gnuplot script that
// drew them (docs/FORMATS.md "Figures"), so the figure can be restyled without re-running the sweep.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweep/run_record.h"
#include "sweep/sweep_spec.h"
#include "util/status.h"

namespace bilmod {

struct PhaseDiagramRequest {
  bool enabled = false;  // false when the sweep has fewer than two swept settings besides the seed
  std::string x_key, y_key;
  std::vector<nlohmann::json> x_values, y_values;
  std::string metric = "grok-epoch";  // or "val-accuracy"
};

// axes_flag "X,Y" or empty for the first two swept settings other than the seed.
Status choose_phase_axes(const std::string& axes_flag, const std::string& metric, const SweepSpec& spec,
                         PhaseDiagramRequest* request);

struct PhaseCell {
  double value = 0;    // NaN when no run of the cell has a value (never grokked, or none finished)
  int runs = 0;        // finished runs in the cell
  int with_value = 0;  // of them, those that reached the milestone (grok-epoch) or all of them (val-accuracy)
};
// cells[y_index][x_index]
std::vector<std::vector<PhaseCell>> phase_cells(const PhaseDiagramRequest& request, const std::vector<RunSpec>& runs,
                                                const std::map<int64_t, RunResult>& results);

// Writes DIR/phase_diagram.{dat,gp,png,svg}; note says what was written.
Status draw_phase_diagram(const std::string& output_dir, const PhaseDiagramRequest& request,
                          const std::vector<RunSpec>& runs, const std::map<int64_t, RunResult>& results,
                          std::string* note);

}  // namespace bilmod
