#include "checkpoint/checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>

#include "checkpoint/safetensors.h"
#include "model/model.h"
#include "util/atomic_file.h"
#include "util/bounded_json.h"
#include "util/read_file.h"

namespace bilmod {

namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& dir, int64_t epoch) {
  return (fs::path(dir) / ("checkpoint_epoch_" + std::to_string(epoch) + ".safetensors")).string();
}

std::string data_checksum(const SafetensorsFile& file) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](uint64_t word) {
    hash ^= word;
    hash *= 0x100000001b3ULL;
  };
  for (const auto& [name, t] : file.tensors) {
    const uint8_t* bytes = t.bytes.data();
    const size_t n = t.bytes.size();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      mix(word);
    }
    for (; i < n; ++i) mix(bytes[i]);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::string("fnv1a64:") + hex;
}

std::string header_checksum(const SafetensorsFile& file) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](const std::string& bytes) {
    for (unsigned char byte : bytes + '\0') {
      hash ^= byte;
      hash *= 0x100000001b3ULL;
    }
  };
  for (const auto& [key, value] : file.metadata)
    if (key != "data_checksum" && key != "header_checksum") mix(key), mix(value);
  for (const auto& [name, t] : file.tensors) {
    mix(name);
    mix(dtype_name(t.dtype));
    for (int64_t dim : t.shape) mix(std::to_string(dim));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::string("fnv1a64:") + hex;
}

namespace {

std::string optimizer_key(const std::string& param, const char* slot) { return "optimizer." + param + "." + slot; }

std::string grokfast_key(const std::string& param, const char* slot) { return "grokfast." + param + "." + slot; }

std::string format_double(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

SafetensorsFile to_safetensors(const TrainingState& s) {
  SafetensorsFile file;
  std::vector<float> torch_order;
  auto put = [&](const std::string& name, const ParameterInfo& info, const std::vector<float>& buffer) {
    torch_order.resize(info.size);
    to_torch_order(info, buffer.data() + info.offset, torch_order.data());
    file.put_f32(name, info.torch_shape, torch_order.data());
  };
  for (const ParameterInfo& info : s.layout().parameters) {
    put(info.name, info, s.params);
    if (!s.optimizer.exp_avg.empty()) put(optimizer_key(info.name, "exp_avg"), info, s.optimizer.exp_avg);
    if (!s.optimizer.exp_avg_sq.empty()) put(optimizer_key(info.name, "exp_avg_sq"), info, s.optimizer.exp_avg_sq);
    if (!s.optimizer.momentum_buffer.empty())
      put(optimizer_key(info.name, "momentum_buffer"), info, s.optimizer.momentum_buffer);
  }
  for (const ModelBuffer& buffer : model_buffers(s.spec()))
    file.put_f32(buffer.name, buffer.shape, buffer.values.data());
  // The gradient filter's state (--grokfast): EMA one tensor per parameter, MA its ring of `window` raw gradients
  // (slot t % window holds step t's), each in PyTorch's order; metadata grokfast_steps counts the steps filtered.
  const GrokfastSettings grokfast = s.config().grokfast_settings();
  for (const ParameterInfo& info : s.layout().parameters) {
    if (grokfast.kind == GrokfastKind::kEma) put(grokfast_key(info.name, "ema"), info, s.grokfast.ema);
    if (grokfast.kind == GrokfastKind::kMa) {
      std::vector<float> ring(static_cast<size_t>(grokfast.window) * info.size);
      for (int64_t k = 0; k < grokfast.window; ++k)
        to_torch_order(info, s.grokfast.window.data() + static_cast<size_t>(k) * s.layout().total + info.offset,
                       ring.data() + static_cast<size_t>(k) * info.size);
      std::vector<int64_t> shape = {grokfast.window};
      shape.insert(shape.end(), info.torch_shape.begin(), info.torch_shape.end());
      file.put_f32(grokfast_key(info.name, "window"), shape, ring.data());
    }
  }
  file.put_i64("data.train_indices", {static_cast<int64_t>(s.data.train_indices.size())}, s.data.train_indices.data());
  file.put_i64("data.val_indices", {static_cast<int64_t>(s.data.val_indices.size())}, s.data.val_indices.data());
  file.metadata = {{"format", kCheckpointFormat},
                   {"format_version", std::to_string(kCheckpointFormatVersion)},
                   {"config", to_json(s.config()).dump()},
                   {"epoch", std::to_string(s.epoch)},
                   {"step", std::to_string(s.step)},
                   {"optimizer_step", std::to_string(s.optimizer.step)},
                   {"epoch_step", std::to_string(s.epoch_step)},
                   {"epoch_loss_sum", format_double(s.epoch_loss_sum)},
                   {"run_id", s.run_id},
                   {"run_name", s.run_name},
                   {"metrics", s.metrics.dump()},
                   {"bilmod_version", BILMOD_VERSION}};
  // --fixed-norm's target (Omnigrok): the norm right after initialisation, 17 significant digits (exact in double).
  if (std::isfinite(s.initial_norm)) file.metadata["initial_norm"] = format_double(s.initial_norm);
  if (grokfast.kind != GrokfastKind::kNone) file.metadata["grokfast_steps"] = std::to_string(s.grokfast.steps);
  file.metadata["data_checksum"] = data_checksum(file);
  file.metadata["header_checksum"] = header_checksum(file);
  return file;
}

// JSON held in the metadata ('config', 'metrics'): bilmod writes it at most two levels deep.
nlohmann::json parse_metadata_json(const std::string& text) { return parse_json_bounded(text, 8); }

Status parse_int(const std::map<std::string, std::string>& meta, const std::string& key, int64_t* out) {
  auto it = meta.find(key);
  if (it == meta.end()) return Status::runtime("metadata '" + key + "' is missing");
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != 0 || errno != 0 || v < 0)
    return Status::runtime("metadata '" + key + "' is not a non-negative integer: '" + it->second + "'");
  *out = v;
  return Status::ok();
}

Status from_safetensors(const SafetensorsFile& file, TrainingState* out) {
  const auto& meta = file.metadata;
  auto get = [&meta](const std::string& key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  if (!get("format") || *get("format") != kCheckpointFormat)
    return Status::runtime("it is not a bilmod checkpoint (metadata 'format' is not '" +
                           std::string(kCheckpointFormat) +
                           "'); for initial parameters from another tool use --init-from");
  if (!get("format_version") || *get("format_version") != std::to_string(kCheckpointFormatVersion))
    return Status::runtime(
        "checkpoint format_version " + (get("format_version") ? *get("format_version") : "(missing)") +
        " is not supported by this bilmod (reads version " + std::to_string(kCheckpointFormatVersion) + ")");
  if (!get("data_checksum") || *get("data_checksum") != data_checksum(file))
    return Status::runtime("tensor data does not match its checksum (the file is corrupt)");
  if (!get("header_checksum"))
    return Status::runtime(
        "metadata 'header_checksum' is missing (the file is corrupt, or was written by a bilmod "
        "from before checkpoints carried it)");
  if (*get("header_checksum") != header_checksum(file))
    return Status::runtime("metadata, tensor names or shapes do not match their checksum (the file is corrupt)");
  TrainingState s;
  if (!get("config")) return Status::runtime("metadata 'config' is missing");
  const auto config_json = parse_metadata_json(*get("config"));
  if (config_json.is_discarded()) return Status::runtime("metadata 'config' is not valid JSON (or nested too deep)");
  RunConfig config;
  // A name that no setting knows (a usage Status) is an invalid value, as validate() reports the others.
  if (Status read = config_from_json(config_json, &config); !read)
    return read.code() == ExitCode::kUsage ? Status::runtime("its config is invalid: " + read.message()) : read;
  if (Status valid = config.validate(); !valid) return Status::runtime("its config is invalid: " + valid.message());
  s.set_config(std::move(config));
  BILMOD_TRY(parse_int(meta, "epoch", &s.epoch));
  BILMOD_TRY(parse_int(meta, "step", &s.step));
  BILMOD_TRY(parse_int(meta, "epoch_step", &s.epoch_step));
  int64_t optimizer_step = 0;
  BILMOD_TRY(parse_int(meta, "optimizer_step", &optimizer_step));
  if (!get("epoch_loss_sum")) return Status::runtime("metadata 'epoch_loss_sum' is missing");
  s.epoch_loss_sum = std::strtod(get("epoch_loss_sum")->c_str(), nullptr);
  if (get("initial_norm")) {
    const std::string& text = *get("initial_norm");
    char* end = nullptr;
    s.initial_norm = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(std::isfinite(s.initial_norm) && s.initial_norm >= 0))
      return Status::runtime("metadata 'initial_norm' is not a finite number >= 0");
  }
  s.run_id = get("run_id") ? *get("run_id") : "";
  if (s.run_id.size() != 32 || s.run_id.find_first_not_of("0123456789abcdef") != std::string::npos)
    return Status::runtime("metadata 'run_id' is not 32 lowercase hex characters");
  s.run_name = get("run_name") ? *get("run_name") : "";
  s.metrics = parse_metadata_json(get("metrics") ? *get("metrics") : "");
  if (s.metrics.is_discarded() || !s.metrics.is_object())
    return Status::runtime("metadata 'metrics' is not a JSON object");

  const OptimizerSettings opt = s.config().optimizer_settings();
  // The config is the file's claim: the parameters, moments and filter state it describes must be there as tensors
  // before they are allocated (a few bytes of header could otherwise ask for the 4 TiB the config allows).
  {
    const GrokfastSettings g = s.config().grokfast_settings();
    const int64_t copies = 1 +
                           (opt.kind == OptimizerKind::kAdamW ? 2
                            : s.config().momentum != 0.0      ? 1
                                                              : 0) +
                           (g.kind == GrokfastKind::kEma    ? 1
                            : g.kind == GrokfastKind::kNone ? 0
                                                            : g.window);
    uint64_t held = 0;
    for (const auto& [name, t] : file.tensors) held += t.bytes.size();
    if (static_cast<uint64_t>(s.layout().total) > held / 4 / static_cast<uint64_t>(copies))
      return Status::runtime("its config describes a " + describe_model(s.spec()) + " (" +
                             std::to_string(s.layout().total) + " parameters), but the file holds " +
                             std::to_string(held) + " bytes of tensors");
  }
  s.params.assign(s.layout().total, 0.0f);
  s.optimizer.reset(opt, s.layout().total);
  s.optimizer.step = optimizer_step;
  std::vector<float> torch_order;
  auto take = [&](const std::string& name, const ParameterInfo& info, std::vector<float>* buffer) -> Status {
    if (Status got = file.get_f32(name, info.torch_shape, &torch_order); !got)
      return Status::runtime(got.message() + " for a " + model_kind_name(s.config().model) + " model with P = " +
                             std::to_string(s.config().mod_basis) + ", H = " + std::to_string(s.config().hidden_dim));
    for (float x : torch_order)
      if (!std::isfinite(x)) return Status::runtime("tensor '" + name + "' holds a non-finite value");
    from_torch_order(info, torch_order.data(), buffer->data() + info.offset);
    return Status::ok();
  };
  size_t expected_tensors = 2;
  for (const ParameterInfo& info : s.layout().parameters) {
    BILMOD_TRY(take(info.name, info, &s.params));
    ++expected_tensors;
    if (!s.optimizer.exp_avg.empty()) {
      BILMOD_TRY(take(optimizer_key(info.name, "exp_avg"), info, &s.optimizer.exp_avg));
      BILMOD_TRY(take(optimizer_key(info.name, "exp_avg_sq"), info, &s.optimizer.exp_avg_sq));
      expected_tensors += 2;
    }
    if (!s.optimizer.momentum_buffer.empty()) {
      BILMOD_TRY(take(optimizer_key(info.name, "momentum_buffer"), info, &s.optimizer.momentum_buffer));
      ++expected_tensors;
    }
  }
  const GrokfastSettings grokfast = s.config().grokfast_settings();
  s.grokfast.reset(grokfast, s.layout().total);
  if (grokfast.kind != GrokfastKind::kNone) {
    BILMOD_TRY(parse_int(meta, "grokfast_steps", &s.grokfast.steps));
    for (const ParameterInfo& info : s.layout().parameters) {
      if (grokfast.kind == GrokfastKind::kEma) {
        BILMOD_TRY(take(grokfast_key(info.name, "ema"), info, &s.grokfast.ema));
      } else {
        std::vector<int64_t> shape = {grokfast.window};
        shape.insert(shape.end(), info.torch_shape.begin(), info.torch_shape.end());
        const std::string name = grokfast_key(info.name, "window");
        if (Status got = file.get_f32(name, shape, &torch_order); !got)
          return Status::runtime(got.message() + " for --grokfast ma with --grokfast-window " +
                                 std::to_string(grokfast.window));
        for (float x : torch_order)
          if (!std::isfinite(x)) return Status::runtime("tensor '" + name + "' holds a non-finite value");
        for (int64_t k = 0; k < grokfast.window; ++k)
          from_torch_order(info, torch_order.data() + static_cast<size_t>(k) * info.size,
                           s.grokfast.window.data() + static_cast<size_t>(k) * s.layout().total + info.offset);
      }
      ++expected_tensors;
    }
  }
  for (const ModelBuffer& buffer : model_buffers(s.spec())) {  // the module's constant buffers: present and unchanged
    std::vector<float> values;
    if (Status got = file.get_f32(buffer.name, buffer.shape, &values); !got) return Status::runtime(got.message());
    if (values != buffer.values)
      return Status::runtime("tensor '" + buffer.name + "' is not the model's constant buffer");
    ++expected_tensors;
  }
  if (file.tensors.size() != expected_tensors)
    return Status::runtime("it holds " + std::to_string(file.tensors.size()) + " tensors where a " +
                           model_kind_name(s.config().model) + " checkpoint holds " + std::to_string(expected_tensors));
  std::vector<int64_t> train, val;
  BILMOD_TRY(file.get_i64("data.train_indices", &train));
  BILMOD_TRY(file.get_i64("data.val_indices", &val));
  BILMOD_TRY(dataset_from_split(s.config().mod_basis, s.config().operation, std::move(train), std::move(val), &s.data));
  if (s.data.train_indices.empty() || s.data.val_indices.empty())
    return Status::runtime("its train or validation split is empty");
  *out = std::move(s);
  return Status::ok();
}

}  // namespace

std::string serialize_checkpoint(const TrainingState& state) { return serialize_safetensors(to_safetensors(state)); }

Status save_checkpoint(const std::string& path, const TrainingState& state) {
  return write_file_atomically(path, serialize_checkpoint(state));
}

Status parse_checkpoint(const uint8_t* data, size_t size, const std::string& origin, TrainingState* state) {
  SafetensorsFile file;
  BILMOD_TRY(parse_safetensors(data, size, origin, &file));
  if (Status s = from_safetensors(file, state); !s) return Status::runtime(origin + ": " + s.message());
  return Status::ok();
}

Status load_checkpoint(const std::string& path, TrainingState* state) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::runtime(path + ": no such checkpoint file");
  std::vector<uint8_t> bytes;
  BILMOD_TRY(read_file_bytes(path, "checkpoint file", &bytes));
  return parse_checkpoint(bytes.data(), bytes.size(), path, state);
}

Status list_checkpoints(const std::string& dir, std::vector<std::pair<int64_t, std::string>>* out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::runtime(dir + ": is not a folder of checkpoints");
  // bilmod's own, and the PyTorch original's (torch.save files under the same names).
  static const std::regex kName(R"(checkpoint_epoch_(\d+)\.(safetensors|pt))");
  std::map<int64_t, std::string> by_epoch;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !std::regex_match(name, m, kName) || m[1].length() > 18) continue;
    const int64_t epoch = std::stoll(m[1].str());
    auto [it, fresh] = by_epoch.emplace(epoch, entry.path().string());
    if (!fresh && m[2].str() == "safetensors") it->second = entry.path().string();  // bilmod's own first
  }
  if (by_epoch.empty()) return Status::runtime(dir + ": holds no checkpoint_epoch_*.safetensors (or .pt) file");
  out->assign(by_epoch.begin(), by_epoch.end());
  return Status::ok();
}

Status resolve_checkpoint_path(const std::string& file_or_dir, std::string* path) {
  std::error_code ec;
  if (!fs::exists(file_or_dir, ec)) return Status::runtime(file_or_dir + ": no such checkpoint file or folder");
  if (!fs::is_directory(file_or_dir, ec)) {
    *path = file_or_dir;
    return Status::ok();
  }
  std::vector<std::pair<int64_t, std::string>> files;
  BILMOD_TRY(list_checkpoints(file_or_dir, &files));
  *path = files.back().second;
  return Status::ok();
}

}  // namespace bilmod
