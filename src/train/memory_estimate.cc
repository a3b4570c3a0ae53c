#include "train/memory_estimate.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "checkpoint/checkpoint.h"
#include "model/model.h"

namespace bilmod {

int64_t worker_threads() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

int64_t parameter_count(const ModelSpec& spec) { return static_cast<int64_t>(make_parameter_layout(spec).total); }

int64_t dataset_bytes(int64_t P) {
  // label (P^2 int32) and the split's indices (P^2 int64), plus defined_pairs' (P^2 int64) while the split is made.
  return P * P * (4 + 8 + 8);
}

int64_t checkpoint_load_bytes(int64_t file_bytes, const CheckpointPeek* peek) {
  if (!peek) return 4 * file_bytes;
  const int64_t P = peek->spec.mod_basis;
  return 3 * file_bytes + peek->largest_tensor_bytes + P * P * (4 + 1);
}

MemoryEstimate checkpoint_reading_memory(const std::string& command, const std::string& path, int64_t file_bytes,
                                         const CheckpointPeek* peek) {
  MemoryEstimate e;
  e.bytes = kProcessBaseBytes + checkpoint_load_bytes(file_bytes, peek);
  e.what = command + ": reading " + path + " (" + format_memory(file_bytes) + ")";
  e.remedy = "a checkpoint of a smaller model (--hidden-dim, --mod-basis)";
  return e;
}

bool peek_checkpoint(const std::string& path, CheckpointPeek* peek) {
  std::ifstream in(path, std::ios::binary);
  unsigned char length[8];
  if (!in.read(reinterpret_cast<char*>(length), 8)) return false;
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(length[i]) << (8 * i);
  if (n == 0 || n > (64u << 20)) return false;
  std::string header(static_cast<size_t>(n), '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(n))) return false;
  const auto json = nlohmann::json::parse(header, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("__metadata__") ||
      !json["__metadata__"].contains("config"))
    return false;
  const auto& text = json["__metadata__"]["config"];
  if (!text.is_string()) return false;
  const auto config = nlohmann::json::parse(text.get<std::string>(), nullptr, false);
  if (config.is_discarded() || !config.is_object()) return false;
  RunConfig c;
  int64_t largest = 0;
  try {
    for (const char* key : {"model", "activation", "operation", "mlp"})
      if (config.contains(key) && !parse_named_setting(key, config[key].get<std::string>(), &c)) return false;
    c.mod_basis = config.value("mod_basis", c.mod_basis);
    c.hidden_dim = config.value("hidden_dim", c.hidden_dim);
    c.d_model = config.value("d_model", c.d_model);
    c.num_heads = config.value("num_heads", c.num_heads);
    c.d_mlp = config.value("d_mlp", c.d_mlp);
    for (const auto& [name, entry] : json.items()) {
      if (name == "__metadata__" || !entry.is_object() || !entry.contains("data_offsets")) continue;
      const auto& offsets = entry["data_offsets"];
      if (offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
          offsets[1].is_number_unsigned())
        largest = std::max<int64_t>(largest, static_cast<int64_t>(offsets[1].get<uint64_t>()) -
                                                 static_cast<int64_t>(offsets[0].get<uint64_t>()));
    }
  } catch (const std::exception&) {
    return false;
  }
  if (!c.validate()) return false;
  peek->spec = c.model_spec();
  peek->largest_tensor_bytes = largest;
  return true;
}

Status check_checkpoint_reading(const std::string& command, const std::string& file_or_dir,
                                const MemoryBudget& budget) {
  std::string path;
  if (!resolve_checkpoint_path(file_or_dir, &path)) return Status::ok();  // the loader reports a bad path itself
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::ok();
  CheckpointPeek peek;
  const bool known = peek_checkpoint(path, &peek);
  return check_memory(checkpoint_reading_memory(command, path, static_cast<int64_t>(size), known ? &peek : nullptr),
                      budget);
}

int64_t activation_bytes_per_pair(const ModelSpec& spec) { return model_of(spec).activation_bytes_per_pair(spec); }

namespace {
// An evaluation of every pair: pair list, labels, per-pair loss and correctness, and each thread's activations
// for a chunk of 256 pairs.
int64_t evaluation_buffer_bytes(const ModelSpec& spec, int64_t threads) {
  const int64_t P = spec.mod_basis;
  return P * P * (8 + 4 + 8 + 1) + threads * 256 * activation_bytes_per_pair(spec);
}

std::string shape(const ModelSpec& spec) { return describe_model(spec); }
}  // namespace

MemoryEstimate training_memory(const RunConfig& config, int64_t threads) {
  const ModelSpec spec = config.model_spec();
  const int64_t n = parameter_count(spec), P = spec.mod_basis;
  const OptimizerSettings optimizer = config.optimizer_settings();
  const int64_t moments = optimizer.kind == OptimizerKind::kAdamW ? 2 : (config.momentum != 0.0 ? 1 : 0);
  const int64_t train_pairs = static_cast<int64_t>(config.train_frac * static_cast<double>(P * P)) + 1;
  const int64_t micro = config.full_batch ? train_pairs : std::min(config.batch_size, train_pairs);
  MemoryEstimate e;
  e.bytes = kProcessBaseBytes + n * 4 * (2 + moments)  // parameters, gradients, moments
            + n * 4 * (1 + moments) * 2                // a checkpoint: tensors in PyTorch order, and the file's bytes
            + dataset_bytes(P) + P * P * 8             // the split; lazy AdamW's last step of every bilinear row
            + evaluation_buffer_bytes(spec, threads) + micro * activation_bytes_per_pair(spec) + train_pairs * 4;
  e.what = "train: " + shape(spec) + ", " + std::to_string(n) + " parameters with gradients and " +
           (moments == 2   ? "AdamW's two moments"
            : moments == 1 ? "SGD's momentum"
                           : "no optimiser state");
  e.remedy = "use a smaller --hidden-dim or --mod-basis";
  return e;
}

MemoryEstimate evaluation_memory(const ModelSpec& spec, int64_t state_bytes, int64_t threads) {
  MemoryEstimate e;
  // --output: each thread's block of kLogitBlock (1024) pairs.
  e.bytes = kProcessBaseBytes + state_bytes + spec.mod_basis * spec.mod_basis * 4  // the state, its label table
            + evaluation_buffer_bytes(spec, threads) + threads * 1024 * activation_bytes_per_pair(spec);
  e.what = "evaluate: " + shape(spec);
  e.remedy = "the checkpoint's P and H fix this; free memory";
  return e;
}

}  // namespace bilmod
