// How much memory training, evaluation and loading a checkpoint will take, from the model's shape alone, so a
// command can refuse before it allocates (util/memory_budget.h). The byte counts follow the buffers the code
// holds (docs/ARCHITECTURE.md "Memory"); README's table shows them against measured peaks.
#pragma once
#include <cstdint>
#include <string>

#include "model/model_spec.h"
#include "config/run_config.h"
#include "util/memory_budget.h"

namespace bilmod {

// The process itself: code, libraries, thread stacks, allocator slack.
constexpr int64_t kProcessBaseBytes = 64ll << 20;

// The threads OpenMP will use (omp_get_max_threads, or 1 without OpenMP).
int64_t worker_threads();

// The parameters of a model of this shape (make_parameter_layout's total, without allocating).
int64_t parameter_count(const ModelSpec& spec);

// One pair's activations in a forward (and backward) pass: network.h's BatchActivations, the transformer's own,
// and its num_logits() logits.
int64_t activation_bytes_per_pair(const ModelSpec& spec);

// Holding a split of P*P pairs: labels (int32) and the train/validation pair indices (int64).
int64_t dataset_bytes(int64_t mod_basis);

// What a bilmod checkpoint's header says without its tensors being read: the model's shape (the config in its
// metadata) and its largest tensor's byte count (from the tensors' data offsets).
struct CheckpointPeek {
  ModelSpec spec;
  int64_t largest_tensor_bytes = 0;
};
// False for anything but a bilmod checkpoint (a torch.save .pt, a damaged file: the loader reports those).
bool peek_checkpoint(const std::string& path, CheckpointPeek* peek);

// Peak while load_checkpoint reads a file of this size (checkpoint/checkpoint.cc): the file's bytes, the parsed
// tensors (a second copy), the state they fill (parameters, optimiser and filter state: about the file again), the
// largest tensor once more in PyTorch's order while it is converted, and the split's label table and duplicate check
// (5 P^2 bytes). Without a header to read (peek null: a torch.save file, read by its own loader) 4 x the file.
// Measured: bilinear H = 256 at P = 251 631 MB for a 186 MB file, at P = 499 2.40 GB for a 733 MB one (3.4 x: the
// largest tensor, bilinear.weight, is a third of the file).
int64_t checkpoint_load_bytes(int64_t file_bytes, const CheckpointPeek* peek);
// The same as an estimate for `command`: checked before a checkpoint is read.
MemoryEstimate checkpoint_reading_memory(const std::string& command, const std::string& path, int64_t file_bytes,
                                         const CheckpointPeek* peek);

// Resolves a checkpoint file or folder and checks that reading it fits the budget.
Status check_checkpoint_reading(const std::string& command, const std::string& file_or_dir, const MemoryBudget& budget);

// bilmod train with this (validated) config, from scratch: parameters, gradients and optimiser state, the split,
// the evaluation buffers, a micro-batch's activations, and the copies a checkpoint is written from.
MemoryEstimate training_memory(const RunConfig& config, int64_t threads);

// bilmod evaluate: the loaded state (the file's size, plus the split's label table) and the evaluation buffers
// (--output streams the logits: one block per thread).
MemoryEstimate evaluation_memory(const ModelSpec& spec, int64_t state_bytes, int64_t threads);

}  // namespace bilmod
