// Checkpoints: a TrainingState in safetensors with PyTorch parameter names (docs/FORMATS.md "Checkpoints").
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "config/training_state.h"
#include "checkpoint/safetensors.h"
#include "util/status.h"

namespace bilmod {

constexpr const char* kCheckpointFormat = "bilmod-checkpoint";
constexpr int kCheckpointFormatVersion = 1;

// {dir}/checkpoint_epoch_{epoch}.safetensors
std::string checkpoint_path(const std::string& dir, int64_t epoch);

// The file's bytes (for tests and the atomic writer).
std::string serialize_checkpoint(const TrainingState& state);
// Written atomically: a temporary file in the same folder, fsync'd, renamed over the final name.
Status save_checkpoint(const std::string& path, const TrainingState& state);

// Validates everything (container, format, config, shapes, finite values, split, checksum) and fills `state`
// only when the whole file is good.
Status load_checkpoint(const std::string& path, TrainingState* state);
Status parse_checkpoint(const uint8_t* data, size_t size, const std::string& origin, TrainingState* state);

// A run folder's checkpoint_epoch_{N}.safetensors (and the PyTorch original's checkpoint_epoch_{N}.pt), one per epoch
// (bilmod's own where both exist), by epoch.
Status list_checkpoints(const std::string& dir, std::vector<std::pair<int64_t, std::string>>* out);
// A file is itself; a folder means its checkpoint with the highest epoch.
Status resolve_checkpoint_path(const std::string& file_or_dir, std::string* path);

// 64-bit FNV-1a over 8-byte words of the tensors' bytes, in file order: catches silent corruption of data.
std::string data_checksum(const SafetensorsFile& file);
// 64-bit FNV-1a over every metadata key and value (but the two checksums) and every tensor's name, dtype and
// shape: a bit flip in the header that still parses (an epoch, a config value) is caught too.
std::string header_checksum(const SafetensorsFile& file);

}  // namespace bilmod
