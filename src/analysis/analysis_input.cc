#include "analysis/analysis_input.h"

#include <cstring>
#include <fstream>

#include "checkpoint/checkpoint.h"
#include "checkpoint/torch_checkpoint.h"

namespace bilmod {

Status load_analysis_input(const std::string& file_or_dir, AnalysisInput* out) {
  std::string path;
  BILMOD_TRY(resolve_checkpoint_path(file_or_dir, &path));
  if (std::ifstream in(path, std::ios::binary); !in)
    return Status::runtime(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  AnalysisInput input;
  input.path = path;
  // torch.save has written a zip archive since PyTorch 1.6; safetensors starts with its header length.
  if (is_zip_file(path)) {
    input.format = "torch.save";
    TorchCheckpoint torch;
    BILMOD_TRY(load_torch_checkpoint(path, &torch));
    input.state = std::move(torch.state);
    input.split_known = torch.split_known;
    input.notes = std::move(torch.notes);
  } else {
    input.format = "safetensors";
    BILMOD_TRY(load_checkpoint(path, &input.state));
  }
  *out = std::move(input);
  return Status::ok();
}

}  // namespace bilmod
