#include "cli/checked_analysis_input.h"

#include "cli/command.h"
#include "util/memory_budget.h"

namespace bilmod {

Status load_checked_analysis_input(const std::string& command, const std::string& checkpoint,
                                   const std::string& max_memory,
                                   const std::function<AnalysisShape(const ModelSpec&)>& shape_of,
                                   AnalysisInput* input) {
  MemoryBudget budget;
  BILMOD_TRY(memory_budget(max_memory, &budget));
  bool checked = false;
  BILMOD_TRY(check_memory_before_loading(command, checkpoint, shape_of, budget, &checked));
  BILMOD_TRY(load_analysis_input(checkpoint, input));
  if (checked) return Status::ok();
  AnalysisShape shape = shape_of(input->state.spec());
  shape.state_bytes = loaded_state_bytes(input->path);
  return check_memory(analysis_memory(shape, command), budget);
}

}  // namespace bilmod
