// The environment variables that switch code paths, read once, at the command line's boundary, before any command
// runs: nothing below cli/ reads the environment to choose how it computes.
//   BILMOD_SUBNORMAL_DETOURS  measure (default) | always | never: util/subnormal_watch.h's policy
//   BILMOD_OPTIMIZER          fast (default) | reference: optim/optimizer.h's path
#pragma once

namespace bilmod {

void apply_environment_overrides();

}  // namespace bilmod
