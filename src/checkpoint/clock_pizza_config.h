// The Clock-and-Pizza paper's saved runs (fjzzq2002/pizza code/save/): model_<id>.pt, a bare state dict of its
// Transformer, and beside it config_<id>.json, the run's config dict as train-main.py wrote it (C, n_heads, d_model,
// n_layers, act_fn, attn_coeff, diff_vocab, eqn_sign, frac, lr, weight_decay, epoch, batch_size, funcs, ...).
// docs/FORMATS.md "The Clock and the Pizza".
#pragma once
#include <string>
#include <vector>

#include "config/run_config.h"
#include "util/status.h"

namespace bilmod {

// config_<id>.json beside a file named model_<id>.pt; empty for any other name, or when there is no such file.
std::string clock_pizza_config_path(const std::string& model_path);

// The run config of `json_path`'s model (--model clock-pizza and the paper's training recipe), every value checked
// for type and range first; `notes` gains what was assumed. A runtime Status naming the file and the key otherwise.
Status read_clock_pizza_config(const std::string& json_path, RunConfig* config, std::vector<std::string>* notes);

}  // namespace bilmod
