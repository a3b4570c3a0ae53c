// The checkpoint an analysis command reads (analyze, analyze --hosvd, visualize-checkpoint), loaded with its memory
// checked first: before loading where the file's header names the model, after loading where only the loaded file
// does (a torch.save file names its shapes only inside).
#pragma once
#include <functional>
#include <string>

#include "analysis/analysis_input.h"
#include "analysis/analysis_memory.h"
#include "util/status.h"

namespace bilmod {

// command: the name the refusal line gives; max_memory: --max-memory ("" for MemAvailable); shape_of(spec): the
// analysis the command will run on a model of that spec.
Status load_checked_analysis_input(const std::string& command, const std::string& checkpoint,
                                   const std::string& max_memory,
                                   const std::function<AnalysisShape(const ModelSpec&)>& shape_of,
                                   AnalysisInput* input);

}  // namespace bilmod
