// Compiled against checkpoint/'s include folder (tests/CMakeLists.txt): train/ sits above checkpoint/, so this include
// must not be found. The build's layering rests on exactly that failure.
#include "train/trainer.h"
