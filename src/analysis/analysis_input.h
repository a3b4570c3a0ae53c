// The checkpoint an analysis reads: bilmod's safetensors, or a file the PyTorch original wrote with torch.save
// (recognised by its zip signature), turned into the same TrainingState.
#pragma once
#include <string>
#include <vector>

#include "config/training_state.h"
#include "util/status.h"

namespace bilmod {

struct AnalysisInput {
  TrainingState state;
  std::string path;                // the file read (a folder resolves to its latest checkpoint)
  std::string format;              // "safetensors" or "torch.save"
  bool split_known = true;         // false when a torch.save file holds no split: every pair is then "train"
  std::vector<std::string> notes;  // what the reader had to assume
};

// A file, or a folder (its checkpoint with the highest epoch). Runtime Status naming the file on any failure.
Status load_analysis_input(const std::string& file_or_dir, AnalysisInput* out);

}  // namespace bilmod
