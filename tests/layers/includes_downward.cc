// Compiled against checkpoint/'s include folder (tests/CMakeLists.txt): config/ sits below checkpoint/, so this must
// compile (the control that shows includes_upward.cc fails for the layering and not for the command).
#include "checkpoint/checkpoint.h"
#include "config/training_state.h"
