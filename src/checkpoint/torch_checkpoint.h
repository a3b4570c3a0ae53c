// Checkpoints the PyTorch original wrote with torch.save: a zip archive ({name}/data.pkl, {name}/data/{key},
// {name}/version) whose pickle holds a dict with `model_state_dict` (or `state_dict`), and usually `config`,
// `epoch`, an optimizer state. Read with libzip and the restricted unpickler (checkpoint/pickle_reader.h):
// nothing in the file is ever executed. The model (bilinear, factored or mlp), P and H come from the state
// dict's names and shapes; `config` supplies the operation, activation and seed when it has them.
#pragma once
#include <string>
#include <vector>

#include "config/training_state.h"
#include "util/status.h"

namespace bilmod {

struct TorchCheckpoint {
  TrainingState state;             // parameters, config, epoch; optimiser state is not read
  bool split_known = false;        // a saved split (train_indices/val_indices) was found
  std::vector<std::string> notes;  // what had to be assumed (operation, activation, split)
};

Status load_torch_checkpoint(const std::string& path, TorchCheckpoint* out);

// Whether the file starts as a zip archive does (torch.save's format since PyTorch 1.6; safetensors starts with
// its header's length). False when it cannot be read.
bool is_zip_file(const std::string& path);

}  // namespace bilmod
