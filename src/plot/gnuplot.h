// Running gnuplot: found on PATH (or at $BILMOD_GNUPLOT), started with posix_spawn (no shell, so no quoting
// of file names can go wrong), its working directory set to the figure's folder so a script names its files
// relatively and can be rerun by hand there: `gnuplot NAME.gp`.
#pragma once
#include <string>
#include <vector>

#include "util/status.h"

namespace bilmod {

// The gnuplot executable, or a runtime Status that names the Debian package to install.
Status find_gnuplot(std::string* path);

struct GnuplotJob {
  std::string dir;     // working directory
  std::string script;  // file name inside dir
};

// Runs every job, at most `parallel` gnuplot processes at once; fails with the first failing script's name
// and the first lines gnuplot printed on stderr.
Status run_gnuplot(const std::vector<GnuplotJob>& jobs, int parallel = 2);

}  // namespace bilmod
