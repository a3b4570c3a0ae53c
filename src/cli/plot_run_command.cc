// bilmod plot-run: the grokking picture of one or more tracked runs.
#include <memory>

#include "cli/command.h"

namespace bilmod {

CommandRunner setup_plot_run_command(CLI::App* cmd) {
  return []() { return report_failure("plot-run", Status::runtime("not built yet")); };
}

}  // namespace bilmod
