#include "cli/environment.h"

#include <cstdlib>
#include <cstring>

#include "optim/optimizer.h"
#include "util/subnormal_watch.h"

namespace bilmod {

void apply_environment_overrides() {
  if (const char* value = std::getenv("BILMOD_SUBNORMAL_DETOURS")) {
    if (std::strcmp(value, "always") == 0) set_detour_policy(DetourPolicy::kAlways);
    if (std::strcmp(value, "never") == 0) set_detour_policy(DetourPolicy::kNever);
  }
  if (const char* value = std::getenv("BILMOD_OPTIMIZER"); value && std::strcmp(value, "reference") == 0)
    set_default_optimizer_path(OptimizerPath::kReference);
}

}  // namespace bilmod
