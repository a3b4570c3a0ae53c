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

// with_optimizer: also read optimizer_state_dict, AdamW's exp_avg, exp_avg_sq and step for every parameter (in
// model.parameters() order, which is the state dict's) and its lr, betas, eps and weight_decay, into state.optimizer
// and state.config(): what continuing the run needs. A file without them is then an error naming what is missing.
Status load_torch_checkpoint(const std::string& path, TorchCheckpoint* out, bool with_optimizer = false);

// Whether the file starts as a zip archive does (torch.save's format since PyTorch 1.6; safetensors starts with
// its header's length). False when it cannot be read.
bool is_zip_file(const std::string& path);

}  // namespace bilmod
