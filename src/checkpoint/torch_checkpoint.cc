#include "checkpoint/torch_checkpoint.h"

#include <zip.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "checkpoint/clock_pizza_config.h"
#include "checkpoint/pickle_reader.h"
#include "model/model.h"
#include "data/dataset.h"
#include "util/memory_budget.h"

namespace bilmod {

namespace {

// A storage larger than this is not a checkpoint of these models (bilinear at P = 1000 is 400 MB); a data.pkl larger
// than the other is not a state dict's (the paper's init.pth, with its split as a list of tuples, is 200 KB).
constexpr zip_uint64_t kMaxEntryBytes = zip_uint64_t{2} << 30;
constexpr zip_uint64_t kMaxPickleBytes = zip_uint64_t{256} << 20;

struct ZipArchive {
  zip_t* zip = nullptr;
  ~ZipArchive() {
    if (zip) zip_discard(zip);
  }
};

Status read_entry(zip_t* zip, const std::string& name, const std::string& origin, std::vector<uint8_t>* out,
                  zip_uint64_t max_bytes = kMaxEntryBytes) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(zip, name.c_str(), 0, &st) != 0)
    return Status::runtime(origin + ": the archive has no entry '" + name + "'");
  if (!(st.valid & ZIP_STAT_SIZE) || st.size > max_bytes)
    return Status::runtime(origin + ": entry '" + name + "' is too large for a checkpoint");
  zip_file_t* file = zip_fopen(zip, name.c_str(), 0);
  if (!file) return Status::runtime(origin + ": cannot open entry '" + name + "': " + zip_strerror(zip));
  // Read in chunks, growing the buffer only as bytes arrive: the size in the entry's header is the archive's claim,
  // and a 1.7 KB file claiming a 1.8 GB entry made the loader allocate and zero all of it before the read failed
  // (found by fuzz_torch_checkpoint). Memory now follows the data that is really there.
  constexpr zip_uint64_t kChunk = zip_uint64_t{1} << 20;
  out->clear();
  std::string failure;
  while (out->size() < st.size) {
    const size_t at = out->size();
    const zip_uint64_t want = std::min<zip_uint64_t>(kChunk, st.size - at);
    out->resize(at + static_cast<size_t>(want));
    const zip_int64_t got = zip_fread(file, out->data() + at, want);
    if (got != static_cast<zip_int64_t>(want)) {
      failure = got < 0 ? zip_file_strerror(file) : "it holds fewer bytes than its header says";
      break;
    }
  }
  if (zip_fclose(file) != 0 && failure.empty()) failure = zip_strerror(zip);
  if (!failure.empty()) {
    out->clear();
    return Status::runtime(origin + ": entry '" + name + "' is truncated or corrupt (" + failure + ")");
  }
  return Status::ok();
}

size_t element_size(const std::string& storage_type) {
  static const std::map<std::string, size_t> kSizes = {
      {"FloatStorage", 4}, {"DoubleStorage", 8}, {"HalfStorage", 2}, {"BFloat16Storage", 2}, {"LongStorage", 8},
      {"IntStorage", 4},   {"ShortStorage", 2},  {"CharStorage", 1}, {"ByteStorage", 1},     {"BoolStorage", 1}};
  auto it = kSizes.find(storage_type);
  return it == kSizes.end() ? 0 : it->second;
}

double half_to_double(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

double element_value(const std::string& type, const uint8_t* p) {
  auto load = [p](auto x) {
    std::memcpy(&x, p, sizeof x);
    return x;
  };
  if (type == "FloatStorage") return load(float{});
  if (type == "DoubleStorage") return load(double{});
  if (type == "HalfStorage") return half_to_double(load(uint16_t{}));
  if (type == "BFloat16Storage") {
    const uint32_t bits = static_cast<uint32_t>(load(uint16_t{})) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  if (type == "LongStorage") return static_cast<double>(load(int64_t{}));
  if (type == "IntStorage") return load(int32_t{});
  if (type == "ShortStorage") return load(int16_t{});
  if (type == "CharStorage") return load(int8_t{});
  return *p;  // Byte, Bool
}

// a * b and a + b in int64, or false where they overflow: every size, offset and stride a pickle states is the file's
// claim, and a lie must be refused before it is used as an address.
bool mul_ok(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool add_ok(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

// A tensor's rank beyond any of these models' (torch itself allows 64).
constexpr size_t kMaxRank = 8;

class TorchArchive {
 public:
  TorchArchive(zip_t* zip, std::string prefix, std::string origin)
      : zip_(zip), prefix_(std::move(prefix)), origin_(std::move(origin)) {}

  // What the archive's storages may take in memory, all of them together: set once the model the file describes is
  // known, from that model's size. Until then no storage is read.
  void set_storage_budget(int64_t bytes) { storage_budget_ = bytes; }

  // A tensor's elements in row-major order of its shape (any strides), widened to double. `max_numel` is how many
  // elements the caller's model has room for: a view may be larger than its storage (a stride of 0), so the view's
  // own claim bounds nothing.
  Status values(const std::string& name, const TorchTensorRef& t, int64_t max_numel, std::vector<double>* out) {
    const size_t esize = element_size(t.storage_type);
    if (esize == 0) return fail(name, "has storage type " + t.storage_type + ", which bilmod does not read");
    int64_t storage_bytes = 0;
    if (t.storage_numel < 0 || !mul_ok(t.storage_numel, static_cast<int64_t>(esize), &storage_bytes))
      return fail(name, "claims a storage of " + std::to_string(t.storage_numel) + " elements, which no file holds");
    if (t.shape.size() != t.stride.size() || t.shape.size() > kMaxRank)
      return fail(name, "has " + std::to_string(t.shape.size()) + " sizes and " + std::to_string(t.stride.size()) +
                            " strides (at most " + std::to_string(kMaxRank) + " of each, as many strides as sizes)");
    int64_t numel = 1;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0 || t.stride[d] < 0)
        return fail(name, "has a negative size or stride (" + std::to_string(t.shape[d]) + ", " +
                              std::to_string(t.stride[d]) + ")");
      if (!mul_ok(numel, t.shape[d], &numel) || numel > max_numel)
        return fail(name,
                    "has more elements than the model's tensor holds (at most " + std::to_string(max_numel) + ")");
    }
    if (t.storage_offset < 0 || t.storage_offset > t.storage_numel)
      return fail(name, "starts at element " + std::to_string(t.storage_offset) + " of a storage of " +
                            std::to_string(t.storage_numel));
    if (numel > 0) {  // the last element the view reads, in int64 without overflow
      int64_t last = t.storage_offset;
      for (size_t d = 0; d < t.shape.size(); ++d) {
        int64_t reach = 0;
        if (!mul_ok(t.shape[d] - 1, t.stride[d], &reach) || !add_ok(last, reach, &last))
          return fail(name, "has strides that reach beyond any storage (stride " + std::to_string(t.stride[d]) + ")");
      }
      if (last >= t.storage_numel)
        return fail(name, "reaches element " + std::to_string(last) + " of a storage of " +
                              std::to_string(t.storage_numel) + " elements");
    }
    std::vector<uint8_t>* bytes = nullptr;
    BILMOD_TRY(storage(name, t.storage_key, storage_bytes, &bytes));
    out->resize(static_cast<size_t>(numel));
    std::vector<int64_t> index(t.shape.size(), 0);
    for (int64_t i = 0; i < numel; ++i) {
      int64_t at = t.storage_offset;
      for (size_t d = 0; d < index.size(); ++d) at += index[d] * t.stride[d];  // <= last, checked above
      (*out)[static_cast<size_t>(i)] = element_value(t.storage_type, bytes->data() + static_cast<size_t>(at) * esize);
      for (size_t d = index.size(); d-- > 0;) {  // next index, last axis fastest
        if (++index[d] < t.shape[d]) break;
        index[d] = 0;
      }
    }
    return Status::ok();
  }

 private:
  Status fail(const std::string& name, const std::string& what) const {
    return Status::runtime(origin_ + ": tensor '" + name + "' " + what);
  }
  // The storage's bytes, read once: its entry's size must be what the pickle says before anything is read, and all
  // storages together stay within the budget the model justifies.
  Status storage(const std::string& name, const std::string& key, int64_t expected_bytes, std::vector<uint8_t>** out) {
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      if (key.empty() || key.find('/') != std::string::npos || key.find("..") != std::string::npos)
        return Status::runtime(origin_ + ": storage key '" + key + "' is not a plain name");
      const std::string entry = prefix_ + "data/" + key;
      zip_stat_t st;
      zip_stat_init(&st);
      if (zip_stat(zip_, entry.c_str(), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return fail(name, "names storage '" + key + "', which the archive does not hold");
      if (st.size != static_cast<zip_uint64_t>(expected_bytes))
        return fail(name, "has a storage of " + std::to_string(st.size) + " bytes where its header says " +
                              std::to_string(expected_bytes));
      if (expected_bytes > storage_budget_ - storage_bytes_)
        return fail(name, "brings the archive's storages beyond the " + std::to_string(storage_budget_) +
                              " bytes a model of this size needs");
      std::vector<uint8_t> bytes;
      BILMOD_TRY(read_entry(zip_, entry, origin_, &bytes));
      if (bytes.size() != static_cast<size_t>(expected_bytes))
        return fail(name, "has a storage of " + std::to_string(bytes.size()) + " bytes where its header says " +
                              std::to_string(expected_bytes));
      storage_bytes_ += expected_bytes;
      it = storages_.emplace(key, std::move(bytes)).first;
    } else if (it->second.size() != static_cast<size_t>(expected_bytes)) {
      return fail(name, "gives storage '" + key + "' " + std::to_string(expected_bytes) +
                            " bytes where another tensor gave it " + std::to_string(it->second.size()));
    }
    *out = &it->second;
    return Status::ok();
  }

  zip_t* zip_;
  std::string prefix_, origin_;
  std::map<std::string, std::vector<uint8_t>> storages_;
  int64_t storage_budget_ = 0, storage_bytes_ = 0;
};

// What reading a file of this model may take, known from the names and shapes before any tensor is read: the
// archive's storages (parameters and AdamW's two moments at 8 bytes an element at most, a split of P^2 int64 twice
// over, 1 MiB of scalars) and bilmod's own copies (parameters, moments, one tensor widened to double and narrowed
// again). The storages are held to their share; the whole is checked against the memory available now, so a file
// whose shapes describe a model beyond this machine is refused before anything is allocated.
Status reserve_for_model(const std::string& path, const ModelSpec& spec, size_t parameters, TorchArchive* storages) {
  const int64_t n = static_cast<int64_t>(parameters), P = spec.mod_basis;
  const int64_t storage_bytes = 8 * (3 * n + 2 * P * P) + (int64_t{1} << 20);
  storages->set_storage_budget(storage_bytes);
  const int64_t need = storage_bytes + 4 * 3 * n + 12 * n + P * P * (4 + 8 + 8);
  const std::optional<int64_t> available = available_memory_bytes();
  if (available && need > *available)
    return Status::runtime(path + ": describes a " + describe_model(spec) + " (" + std::to_string(n) +
                           " parameters), which needs about " + format_memory(need) + " to read, but " +
                           format_memory(*available) + " is available");
  return Status::ok();
}

// The state dicts a model's saved variants hold (model/model.h saved_variants): their names, exactly.
struct SavedModel {
  const Model* model;
  ModelSpec variant;
  std::set<std::string> keys;
};
const std::vector<SavedModel>& saved_models() {
  static const std::vector<SavedModel> all = [] {
    std::vector<SavedModel> v;
    for (const Model* m : registered_models())
      for (const ModelSpec& variant : m->saved_variants()) {
        std::set<std::string> keys;
        for (const ParameterInfo& info : make_parameter_layout(variant).parameters) keys.insert(info.name);
        v.push_back({m, variant, std::move(keys)});
      }
    return v;
  }();
  return all;
}
constexpr const char* kAcceptedModels =
    "bilmod reads the seed's bilinear (bilinear.weight, bilinear.bias, output.weight, output.bias), the upstream's "
    "(bilinear.weight with output.weight, or bilinear.weight alone), factored (left.weight, right.weight, "
    "output.weight) "
    "mlp (hidden.weight, hidden.bias, output.weight, output.bias) and the transformer (embed.W_E, ..., the paper's "
    "names or TransformerLens's), also under '_orig_mod.' or 'module.'";

// config keys the torch file may share with bilmod's RunConfig, taken when their type matches.
nlohmann::json known_config(const PickleValue* config, std::vector<std::string>* ignored) {
  const nlohmann::json defaults = to_json(RunConfig{});
  nlohmann::json j = nlohmann::json::object();
  if (!config || config->kind != PickleValue::Kind::kDict) return j;
  for (const auto& [key, value] : config->entries) {
    if (key->kind != PickleValue::Kind::kString) continue;
    const std::string& name = key->text;
    auto it = defaults.find(name);
    if (it == defaults.end()) {
      ignored->push_back(name);
      continue;
    }
    using K = PickleValue::Kind;
    if (it->is_number_unsigned() && value->kind == K::kInt && value->integer >= 0)
      j[name] = static_cast<uint64_t>(value->integer);
    else if (it->is_number_integer() && !it->is_number_unsigned() && value->kind == K::kInt)
      j[name] = value->integer;
    else if (it->is_number_float() && (value->kind == K::kFloat || value->kind == K::kInt))
      j[name] = value->kind == K::kFloat ? value->real : static_cast<double>(value->integer);
    else if (it->is_string() && value->kind == K::kString)
      j[name] = value->text;
    else if (it->is_boolean() && value->kind == K::kBool)
      j[name] = value->boolean;
    else
      ignored->push_back(name);
  }
  return j;
}

// The prefixes wrappers put before every parameter name: torch.compile's OptimizedModule, DataParallel.
constexpr const char* kWrapperPrefixes[] = {"_orig_mod.", "module."};

// A dict of string keys to tensors only: what model.state_dict() is.
bool is_bare_state_dict(const PickleValue& dict) {
  if (dict.kind != PickleValue::Kind::kDict || dict.entries.empty()) return false;
  for (const auto& [key, value] : dict.entries)
    if (key->kind != PickleValue::Kind::kString || value->kind != PickleValue::Kind::kTensor) return false;
  return true;
}

// A dict's keys for an error message: strings as they are, others by kind, at most twelve.
std::string key_list(const PickleValue& dict) {
  std::string list;
  size_t shown = 0;
  for (const auto& [key, value] : dict.entries) {
    if (shown == 12) {
      list += ", ... (" + std::to_string(dict.entries.size()) + " keys)";
      break;
    }
    list +=
        (list.empty() ? "" : ", ") + (key->kind == PickleValue::Kind::kString ? key->text : "a " + key->kind_name());
    ++shown;
  }
  return list;
}

// torch.compile's module keeps the original as `_orig_mod`, DataParallel's as `module`: their state dicts hold the
// same tensors with every name under that prefix (both, nested, when one wraps the other). Strips each prefix every
// name shares, as often as it is nested, and says which in `notes`.
size_t strip_wrapper_prefixes(std::map<std::string, const TorchTensorRef*>* tensors, std::vector<std::string>* notes) {
  size_t stripped = 0;
  for (bool again = true; again && !tensors->empty();) {
    again = false;
    for (const char* wrapper : kWrapperPrefixes) {
      const std::string pre = wrapper;
      if (!std::all_of(tensors->begin(), tensors->end(), [&](const auto& t) { return t.first.rfind(pre, 0) == 0; }))
        continue;
      std::map<std::string, const TorchTensorRef*> bare;
      for (const auto& [name, t] : *tensors) bare[name.substr(pre.size())] = t;
      *tensors = std::move(bare);
      stripped += pre.size();
      notes->push_back("parameter names read without the '" + pre + "' prefix of " +
                       (pre == "module." ? "DataParallel" : "torch.compile"));
      again = true;
    }
  }
  return stripped;
}

bool as_number(const PickleValue* v, double* out) {
  if (!v) return false;
  if (v->kind == PickleValue::Kind::kFloat)
    *out = v->real;
  else if (v->kind == PickleValue::Kind::kInt)
    *out = static_cast<double>(v->integer);
  else
    return false;
  return true;
}

// A tensor of the file into bilmod's storage order at `dst` (info's layout); `what` names it in the error a
// non-finite value gets ("tensor 'output.weight'").
Status store_tensor(TorchArchive* storages, const std::string& label, const TorchTensorRef& t,
                    const ParameterInfo& info, const std::string& path, const std::string& what, float* dst) {
  std::vector<double> values;
  BILMOD_TRY(storages->values(label, t, static_cast<int64_t>(info.size), &values));
  std::vector<float> torch_order(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return Status::runtime(path + ": " + what + " holds a non-finite value");
    torch_order[i] = static_cast<float>(values[i]);
  }
  from_torch_order(info, torch_order.data(), dst);
  return Status::ok();
}

// optimizer_state_dict of torch.optim.AdamW over the model's parameters, in order: its hyperparameters into the
// config, exp_avg and exp_avg_sq into the state in bilmod's storage order, the step (a tensor since torch 1.12).
Status read_adamw_state(const PickleValue& root, const std::vector<std::string>& parameter_order,
                        const std::string& path, TorchArchive* storages, TrainingState* state) {
  using K = PickleValue::Kind;
  const PickleValue* opt = root.get("optimizer_state_dict");
  if (!opt || opt->kind != K::kDict)
    return Status::runtime(path +
                           ": holds no 'optimizer_state_dict', so its run cannot be continued (a run goes on "
                           "from its parameters and AdamW's state; --init-from takes the parameters alone)");
  const PickleValue* groups = opt->get("param_groups");
  const PickleValue* per_param = opt->get("state");
  if (!groups || groups->kind != K::kList || groups->items.size() != 1 || groups->items[0]->kind != K::kDict ||
      !per_param || per_param->kind != K::kDict)
    return Status::runtime(path + ": its optimizer_state_dict is not one parameter group's with a 'state' dict");
  const PickleValue& group = *groups->items[0];
  const PickleValue* betas = group.get("betas");
  double lr = 0, eps = 0, weight_decay = 0, beta1 = 0, beta2 = 0;
  if (!betas || (betas->kind != K::kTuple && betas->kind != K::kList) || betas->items.size() != 2 ||
      !as_number(betas->items[0], &beta1) || !as_number(betas->items[1], &beta2) || !as_number(group.get("lr"), &lr) ||
      !as_number(group.get("eps"), &eps) || !as_number(group.get("weight_decay"), &weight_decay))
    return Status::runtime(path +
                           ": its optimizer state is not AdamW's (its group has no lr, betas, eps and weight_decay)");
  for (const char* flag : {"amsgrad", "maximize"})
    if (const PickleValue* v = group.get(flag); v && v->kind == K::kBool && v->boolean)
      return Status::runtime(path + ": its AdamW runs with " + flag + "=True, which bilmod's AdamW does not do");
  const PickleValue* ids = group.get("params");
  if (!ids || ids->kind != K::kList || ids->items.size() != parameter_order.size())
    return Status::runtime(path + ": its optimizer's parameter group does not hold the model's " +
                           std::to_string(parameter_order.size()) + " parameters");
  RunConfig config = state->config();
  config.optimizer = OptimizerKind::kAdamW;
  config.learning_rate = lr, config.beta1 = beta1, config.beta2 = beta2, config.eps = eps,
  config.weight_decay = weight_decay;
  if (Status s = config.validate(); !s) return Status::runtime(path + ": its AdamW settings: " + s.message());
  state->set_config(config);  // the model's settings are unchanged: spec and layout stay as they were
  state->optimizer.reset(config.optimizer_settings(), state->layout().total);
  int64_t step = -1;
  std::vector<double> values;
  for (size_t j = 0; j < parameter_order.size(); ++j) {
    const std::string& name = parameter_order[j];
    const ParameterInfo* info = state->layout().find(name);
    if (!info || ids->items[j]->kind != K::kInt)
      return Status::runtime(path + ": its optimizer state does not match '" + name + "'");
    const PickleValue* slots = nullptr;
    for (const auto& [key, value] : per_param->entries)
      if (key->kind == K::kInt && key->integer == ids->items[j]->integer) slots = value;
    int64_t this_step = 0;  // a parameter with no state yet has taken no step
    if (slots) {
      if (slots->kind != K::kDict)
        return Status::runtime(path + ": the optimizer state of '" + name + "' is not a dict");
      const PickleValue* s = slots->get("step");
      double x = 0;
      if (s && s->kind == K::kTensor) {
        BILMOD_TRY(storages->values(name + " step", s->tensor, 1, &values));
        if (values.size() != 1) return Status::runtime(path + ": the AdamW step of '" + name + "' is not one number");
        x = values[0];
      } else if (!as_number(s, &x)) {
        return Status::runtime(path + ": the optimizer state of '" + name + "' has no step (not AdamW's)");
      }
      if (!(x >= 0 && x < 9e15 && x == std::floor(x)))
        return Status::runtime(path + ": the AdamW step of '" + name + "' is not a count");
      this_step = static_cast<int64_t>(x);
      for (auto [slot, buffer] :
           {std::pair{"exp_avg", &state->optimizer.exp_avg}, std::pair{"exp_avg_sq", &state->optimizer.exp_avg_sq}}) {
        const PickleValue* t = slots->get(slot);
        if (!t || t->kind != K::kTensor || t->tensor.shape != info->torch_shape)
          return Status::runtime(path + ": the AdamW state of '" + name + "' has no " + slot + " of its shape");
        BILMOD_TRY(store_tensor(storages, name + " " + slot, t->tensor, *info, path,
                                std::string("AdamW's ") + slot + " of '" + name + "'", buffer->data() + info->offset));
      }
    }
    if (step >= 0 && this_step != step)
      return Status::runtime(path + ": its parameters have taken different numbers of AdamW steps (" +
                             std::to_string(step) + " and " + std::to_string(this_step) +
                             "), which one step count cannot continue");
    step = this_step;
  }
  state->optimizer.step = step < 0 ? 0 : step;
  state->step = state->optimizer.step;
  return Status::ok();
}

// The epoch the file records, when it is a non-negative integer (the state's is kept otherwise).
void read_epoch(const PickleValue& root, TrainingState* state) {
  if (const PickleValue* epoch = root.get("epoch");
      epoch && epoch->kind == PickleValue::Kind::kInt && epoch->integer >= 0)
    state->epoch = epoch->integer;
}

const PickleValue* find_split_tensor(const PickleValue* root, const char* name) {
  if (const PickleValue* v = root->get(name); v && v->kind == PickleValue::Kind::kTensor) return v;
  if (const PickleValue* data = root->get("data"))
    if (const PickleValue* v = data->get(name); v && v->kind == PickleValue::Kind::kTensor) return v;
  return nullptr;
}

// Where element i (row-major) of a tensor of `shape` with its axes permuted by `axes` and reshaped lies in the
// tensor itself: the multi-index of i over the permuted shape, mapped back through `axes`.
size_t permuted_index(const std::vector<int64_t>& shape, const std::vector<int>& axes, size_t i) {
  size_t index = 0;
  std::vector<size_t> stride(shape.size(), 1);
  for (size_t k = shape.size(); k-- > 1;) stride[k - 1] = stride[k] * static_cast<size_t>(shape[k]);
  for (size_t k = axes.size(); k-- > 0;) {
    const size_t extent = static_cast<size_t>(shape[static_cast<size_t>(axes[k])]);
    index += (i % extent) * stride[static_cast<size_t>(axes[k])];
    i /= extent;
  }
  return index;
}

// Nanda et al.'s Transformer (transformers.py saves {'model': state_dict, 'epoch', ...}; its init.pth adds
// 'train_data'/'test_data' lists of (a, b, P)) or TransformerLens's HookedTransformer state dict in the grokking demo's
// shape (one layer, no LayerNorm; W_E (V, d), W_Q|K|V (heads, d, d_head), W_O (heads, d_head, d), W_in (d, d_mlp),
// W_out (d_mlp, d), and biases b_Q, b_K, b_V, b_O, b_U that the demo keeps at zero).
Status read_transformer(const std::string& path, const PickleValue* root,
                        const std::map<std::string, const TorchTensorRef*>& tensors, TorchArchive* storages,
                        TorchCheckpoint* out) {
  // The names the model gives its parameters, buffers and TransformerLens's form (model/model.h), at nominal sizes.
  ModelSpec nominal;
  nominal.kind = ModelKind::kTransformer;
  const Model& model = model_of(nominal);
  const LensLayout lens_names = model.transformer_lens_layout(nominal);
  bool lens = false;
  for (const std::string& name : lens_names.zero_biases) lens = lens || tensors.count(name) > 0;
  const char* what = lens ? "a TransformerLens HookedTransformer" : "the paper's Transformer";
  const bool bilinear = !lens && tensors.count("blocks.0.mlp.W_in2") > 0;
  if (bilinear) nominal.mlp = TransformerMlp::kBilinear;
  std::set<std::string> required, allowed(lens_names.buffers.begin(), lens_names.buffers.end());
  for (const ParameterInfo& info : make_parameter_layout(nominal).parameters) required.insert(info.name);
  for (const ModelBuffer& buffer : model.buffers(nominal)) allowed.insert(buffer.name);
  if (lens) allowed.insert(lens_names.zero_biases.begin(), lens_names.zero_biases.end());
  std::string missing, unknown;
  for (const auto& name : required)
    if (!tensors.count(name)) missing += (missing.empty() ? "" : ", ") + name;
  for (const auto& [name, t] : tensors)
    if (!required.count(name) && !allowed.count(name)) unknown += (unknown.empty() ? "" : ", ") + name;
  if (!missing.empty()) return Status::runtime(path + ": " + what + " state dict lacks " + missing);
  if (!unknown.empty())
    return Status::runtime(path + ": " + what + " state dict holds " + unknown +
                           ", which bilmod's one-layer transformer without LayerNorm does not have (a Clock-and-Pizza "
                           "model_<id>.pt is read with its config_<id>.json beside it)");
  auto shape = [&](const char* name) { return tensors.at(name)->shape; };
  const auto we = shape("embed.W_E"), wq = shape("blocks.0.attn.W_Q"), win = shape("blocks.0.mlp.W_in"),
             wu = shape("unembed.W_U");
  if (we.size() != 2 || wq.size() != 3 || win.size() != 2 || wu.size() != 2)
    return Status::runtime(path +
                           ": embed.W_E, blocks.0.attn.W_Q, blocks.0.mlp.W_in or unembed.W_U has the wrong rank");
  // The sizes are the file's claim: each is bounded before any is multiplied (config.validate() bounds them again).
  for (const auto* dims : {&we, &wq, &win, &wu})
    for (int64_t x : *dims)
      if (x < 1 || x > (int64_t{1} << 24))
        return Status::runtime(path +
                               ": embed.W_E, blocks.0.attn.W_Q, blocks.0.mlp.W_in or unembed.W_U has a size of " +
                               std::to_string(x) + ", which no transformer bilmod reads has");
  const int64_t d = lens ? we[1] : we[0], V = lens ? we[0] : we[1], heads = wq[0], dh = lens ? wq[2] : wq[1],
                M = lens ? win[1] : win[0], P = V - 1, v_out = wu[1];
  if (heads * dh != d)
    return Status::runtime(path + ": heads x d_head = " + std::to_string(heads * dh) + " but d_model = " +
                           std::to_string(d) + "; bilmod's transformer has d_head = d_model / heads");
  if (v_out != V && !(lens && v_out == P))
    return Status::runtime(path + ": unembed.W_U has " + std::to_string(v_out) + " outputs for a vocabulary of " +
                           std::to_string(V));
  nlohmann::json config_json = {{"model", "transformer"}, {"mod_basis", P}, {"d_model", d},
                                {"num_heads", heads},     {"d_mlp", M},     {"mlp", bilinear ? "bilinear" : "relu"}};
  RunConfig config;
  if (Status s = config_from_json(config_json, &config); !s) return Status::runtime(path + ": " + s.message());
  if (Status s = config.validate(); !s)
    return Status::runtime(path + ": its shapes give an invalid model: " + s.message());
  TorchCheckpoint result;
  result.notes.push_back(std::string(what) + ": operation add, " + (bilinear ? "bilinear MLP" : "ReLU") +
                         " and seed 0 assumed (the file does not record them)");
  if (lens && v_out == P)
    result.notes.push_back(
        "its unembedding has P outputs (d_vocab_out = P); bilmod's has P + 1: the '=' column is set "
        "to zero, which adds a logit 0 to every softmax (losses differ from TransformerLens's; "
        "accuracy and the logit measures over the P classes do not)");
  TrainingState& state = result.state;
  state.set_config(config);
  BILMOD_TRY(reserve_for_model(path, state.spec(), state.layout().total, storages));
  state.params.assign(state.layout().total, 0.0f);
  std::vector<double> src;
  const LensLayout lens_layout = model.transformer_lens_layout(state.spec());
  for (const auto& name : lens_layout.zero_biases) {
    if (!tensors.count(name)) continue;
    // b_Q, b_K, b_V are (heads, d_head), b_O (d_model), b_U (d_vocab_out): none holds more than heads x d_head + V.
    BILMOD_TRY(storages->values(name, *tensors.at(name), heads * dh + V, &src));
    for (double x : src)
      if (x != 0)
        return Status::runtime(path + ": TransformerLens bias '" + name + "' is not zero (" + std::to_string(x) +
                               "); bilmod's transformer has no attention or unembedding biases (the grokking demo "
                               "keeps them at zero)");
  }
  for (const ParameterInfo& info : state.layout().parameters) {
    const TorchTensorRef& t = *tensors.at(info.name);
    // The source's shape in PyTorch's order for bilmod's tensor, and the index of each of bilmod's elements in it.
    std::vector<int64_t> want = info.torch_shape;
    std::function<size_t(size_t)> from = [](size_t i) { return i; };
    const std::string& n = info.name;
    const LensTensor* theirs = nullptr;
    for (const LensTensor& l : lens_layout.tensors)
      if (lens && l.parameter == n && !l.axes.empty()) theirs = &l;
    if (theirs) {
      want = theirs->shape;
      from = [theirs](size_t i) { return permuted_index(theirs->shape, theirs->axes, i); };
    } else if (n == "unembed.W_U") {
      want = {d, v_out};
      from = [=](size_t i) {
        return static_cast<size_t>(static_cast<int64_t>(i % V) < v_out ? (i / V) * v_out + i % V : SIZE_MAX);
      };
    }
    if (t.shape != want) {
      std::string got, expected;
      for (int64_t x : t.shape) got += (got.empty() ? "" : ", ") + std::to_string(x);
      for (int64_t x : want) expected += (expected.empty() ? "" : ", ") + std::to_string(x);
      return Status::runtime(path + ": tensor '" + n + "' has shape (" + got + ") where " + what +
                             " with these sizes has (" + expected + ")");
    }
    int64_t want_numel = 1;
    for (int64_t x : want) want_numel *= x;  // the model's own sizes, validated
    BILMOD_TRY(storages->values(info.name, t, want_numel, &src));
    float* dst = state.params.data() + info.offset;
    for (size_t i = 0; i < info.size; ++i) {
      const size_t j = from(i);
      const double x = j == SIZE_MAX ? 0.0 : src[j];
      if (!std::isfinite(x)) return Status::runtime(path + ": tensor '" + n + "' holds a non-finite value");
      dst[i] = static_cast<float>(x);
    }
  }
  read_epoch(*root, &state);
  // The paper's init.pth: train_data and test_data, lists of (a, b, P).
  const PickleValue* train = root->get("train_data");
  const PickleValue* test = root->get("test_data");
  std::vector<int64_t> split[2];
  const bool split_ok = train && test;
  for (int s = 0; s < 2 && split_ok; ++s) {  // a split that is there but malformed is an error, not "no split"
    const PickleValue* list = s == 0 ? train : test;
    const char* name = s == 0 ? "train_data" : "test_data";
    if (list->kind != PickleValue::Kind::kList)
      return Status::runtime(path + ": its " + name + " is a " + list->kind_name() + ", not a list of (a, b, P)");
    for (size_t i = 0; i < list->items.size(); ++i) {
      const PickleValue* item = list->items[i];
      const bool pair = (item->kind == PickleValue::Kind::kTuple || item->kind == PickleValue::Kind::kList) &&
                        item->items.size() == 3 && item->items[0]->kind == PickleValue::Kind::kInt &&
                        item->items[1]->kind == PickleValue::Kind::kInt && item->items[0]->integer >= 0 &&
                        item->items[0]->integer < P && item->items[1]->integer >= 0 && item->items[1]->integer < P;
      if (!pair)
        return Status::runtime(path + ": its " + name + "[" + std::to_string(i) +
                               "] is not (a, b, P) with 0 <= a, b < P = " + std::to_string(P));
      split[s].push_back(item->items[0]->integer * P + item->items[1]->integer);
    }
  }
  if (split_ok) {
    BILMOD_TRY(dataset_from_split(P, Operation::kAdd, std::move(split[0]), std::move(split[1]), &state.data));
    result.split_known = true;
  } else {
    BILMOD_TRY(dataset_from_split(P, Operation::kAdd, defined_pairs(P, Operation::kAdd), {}, &state.data));
    result.notes.push_back(
        "the file holds no train/validation split (the paper's init.pth has one): accuracy and "
        "losses are over every pair");
  }
  *out = std::move(result);
  return Status::ok();
}

// Zhong et al.'s model_<id>.pt, a bare state dict, read as the run its config_<id>.json describes
// (checkpoint/clock_pizza_config.h): exactly the model's parameters and its mask buffers, each of the shape the config
// gives it, within the memory that model justifies.
Status read_clock_pizza(const std::string& path, const std::string& config_path,
                        const std::map<std::string, const TorchTensorRef*>& tensors, TorchArchive* storages,
                        TorchCheckpoint* out) {
  TorchCheckpoint result;
  RunConfig config;
  BILMOD_TRY(read_clock_pizza_config(config_path, &config, &result.notes));
  TrainingState& state = result.state;
  state.set_config(config);
  const ModelSpec& spec = state.spec();
  BILMOD_TRY(reserve_for_model(path, spec, state.layout().total, storages));
  std::set<std::string> expected;
  for (const ParameterInfo& info : state.layout().parameters) expected.insert(info.name);
  for (const ModelBuffer& buffer : model_buffers(spec)) expected.insert(buffer.name);
  std::string missing, unknown;
  for (const ParameterInfo& info : state.layout().parameters)
    if (!tensors.count(info.name)) missing += (missing.empty() ? "" : ", ") + info.name;
  for (const auto& [name, t] : tensors)
    if (!expected.count(name)) unknown += (unknown.empty() ? "" : ", ") + name;
  const std::string what = "the " + describe_model(spec) + " of " + config_path;
  if (!missing.empty()) return Status::runtime(path + ": lacks " + missing + ", which " + what + " has");
  if (!unknown.empty()) return Status::runtime(path + ": holds " + unknown + ", which " + what + " does not have");
  state.params.assign(state.layout().total, 0.0f);
  std::vector<double> src;
  std::vector<float> torch_order;
  for (const ParameterInfo& info : state.layout().parameters) {
    const TorchTensorRef& t = *tensors.at(info.name);
    if (t.shape != info.torch_shape) {
      std::string got, want;
      for (int64_t x : t.shape) got += (got.empty() ? "" : ", ") + std::to_string(x);
      for (int64_t x : info.torch_shape) want += (want.empty() ? "" : ", ") + std::to_string(x);
      return Status::runtime(path + ": tensor '" + info.name + "' has shape (" + got + ") where " + what + " has (" +
                             want + ")");
    }
    BILMOD_TRY(storages->values(info.name, t, static_cast<int64_t>(info.size), &src));
    torch_order.resize(info.size);
    for (size_t i = 0; i < info.size; ++i) {
      if (!std::isfinite(src[i]))
        return Status::runtime(path + ": tensor '" + info.name + "' holds a non-finite value");
      torch_order[i] = static_cast<float>(src[i]);
    }
    from_torch_order(info, torch_order.data(), state.params.data() + info.offset);
  }
  const int64_t P = spec.mod_basis;
  BILMOD_TRY(dataset_from_split(P, config.operation, defined_pairs(P, config.operation), {}, &state.data));
  result.notes.push_back("accuracy and losses are over every pair (the file holds no split)");
  *out = std::move(result);
  return Status::ok();
}

// ---- the stages of load_torch_checkpoint, in the order it calls them ------------------------------------------------

// The zip torch.save wrote: its entries' common {name}/ prefix and the bytes of its pickle.
struct OpenedArchive {
  ZipArchive archive;
  std::string prefix;
  std::vector<uint8_t> pickle;
};

// Opens the file as a zip, finds its one {name}/data.pkl and reads it (at most kMaxPickleBytes). A file that says it
// was written big-endian is refused here: every storage is read as little-endian bytes.
Status open_archive(const std::string& path, OpenedArchive* opened) {
  ZipArchive& archive = opened->archive;
  int error_code = 0;
  archive.zip = zip_open(path.c_str(), ZIP_RDONLY, &error_code);
  if (!archive.zip) {
    zip_error_t error;
    zip_error_init_with_code(&error, error_code);
    const std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    return Status::runtime(path + ": not a readable torch.save zip archive (" + why + ")");
  }
  // torch.save names every entry {archive_name}/...; the pickle is {archive_name}/data.pkl.
  std::string& prefix = opened->prefix;
  int found = 0;
  const zip_int64_t entries = zip_get_num_entries(archive.zip, 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    const char* name = zip_get_name(archive.zip, static_cast<zip_uint64_t>(i), 0);
    if (!name) continue;
    const std::string n = name;
    const size_t slash = n.find('/');
    if (slash != std::string::npos && n.substr(slash + 1) == "data.pkl") prefix = n.substr(0, slash + 1), ++found;
  }
  if (found != 1)
    return Status::runtime(path + ": " + (found ? "holds several data.pkl entries" : "holds no {name}/data.pkl entry") +
                           " (not a file torch.save wrote)");
  BILMOD_TRY(read_entry(archive.zip, prefix + "data.pkl", path, &opened->pickle, kMaxPickleBytes));
  {
    std::vector<uint8_t> order;
    if (read_entry(archive.zip, prefix + "byteorder", path, &order, 64).is_ok() &&
        std::string(order.begin(), order.end()) != "little")
      return Status::runtime(path + ": was written on a big-endian machine, which bilmod does not read");
  }
  return Status::ok();
}

// Parses the pickle with the restricted unpickler (nothing in it runs) into `doc`, and finds the state dict its root
// dict holds: under 'model_state_dict', 'state_dict' or 'model' (the paper's transformer), or the root itself when
// it maps names to tensors. Anything else is no checkpoint, and the message lists the keys it has instead.
Status find_state_dict(const std::string& path, const std::vector<uint8_t>& pickle_bytes, PickleDocument* doc,
                       const PickleValue** found) {
  BILMOD_TRY(parse_pickle(pickle_bytes.data(), pickle_bytes.size(), path, doc));
  const PickleValue* root = doc->root;
  if (root->kind != PickleValue::Kind::kDict)
    return Status::runtime(path + ": its pickle holds a " + root->kind_name() + ", not a checkpoint dict");
  const PickleValue* state_dict = root->get("model_state_dict");
  if (!state_dict) state_dict = root->get("state_dict");
  if (!state_dict)  // the paper's transformer checkpoints: {'model': state_dict, 'epoch', ...}
    if (const PickleValue* m = root->get("model"); m && m->kind == PickleValue::Kind::kDict) state_dict = m;
  if (!state_dict && is_bare_state_dict(*root)) state_dict = root;  // torch.save(model.state_dict(), path)
  if (!state_dict || state_dict->kind != PickleValue::Kind::kDict)
    return Status::runtime(
        path + ": holds a dict of {" + key_list(*root) +
        "}, which is no checkpoint: bilmod reads a dict with 'model_state_dict' (or 'state_dict', or "
        "'model'), or a state dict itself (parameter names to tensors, also under '_orig_mod.' or "
        "'module.')");
  *found = state_dict;
  return Status::ok();
}

// A state dict's tensors under the names the model gives them.
struct StateDictTensors {
  std::map<std::string, const TorchTensorRef*> tensors;
  std::vector<std::string> parameter_order;  // the state dict's order: model.parameters()' for these models
  std::vector<std::string> notes;            // the wrapper prefixes that were stripped
};

// Every entry must map a string to a tensor (a state dict holds nothing else). The prefixes torch.compile and
// DataParallel put before every name are stripped, from the map and from the order alike, so both name the
// parameters as the model does.
Status collect_tensors(const std::string& path, const PickleValue& state_dict, StateDictTensors* out) {
  for (const auto& [key, value] : state_dict.entries) {
    if (key->kind != PickleValue::Kind::kString || value->kind != PickleValue::Kind::kTensor)
      return Status::runtime(path + ": model_state_dict holds a " + value->kind_name() + " under a " +
                             key->kind_name() + " key (a state dict maps names to tensors)");
    out->tensors[key->text] = &value->tensor;
    out->parameter_order.push_back(key->text);
  }
  const size_t prefix_length = strip_wrapper_prefixes(&out->tensors, &out->notes);
  for (std::string& name : out->parameter_order) name = name.substr(prefix_length);
  return Status::ok();
}

// One of bilmod's models, and its sizes as the state dict's shapes give them.
struct IdentifiedModel {
  const SavedModel* saved = nullptr;
  int64_t P = 0, H = 0;
};

// The names must be exactly one saved variant's (saved_models()); the model reads P and H from the shapes
// (Model::saved_sizes). The shapes are the file's claim: here each must be at least 1; reconcile_config's validate()
// bounds them, and read_parameters' reserve_for_model refuses a model beyond the memory available before anything is
// allocated from them.
Status identify_model(const std::string& path, const std::map<std::string, const TorchTensorRef*>& tensors,
                      IdentifiedModel* out) {
  std::set<std::string> names;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& t : tensors) {
    names.insert(t.first);
    shapes[t.first] = t.second->shape;
  }
  const SavedModel* saved = nullptr;
  for (const SavedModel& m : saved_models())
    if (m.keys == names) saved = &m;
  if (!saved) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return Status::runtime(path + ": model_state_dict holds {" + list +
                           "}, which is none of bilmod's models: " + kAcceptedModels);
  }
  int64_t P = 0, H = 0;
  std::string error;
  if (!saved->model->saved_sizes(saved->variant, shapes, &P, &H, &error)) return Status::runtime(path + ": " + error);
  *out = {saved, P, H};
  return Status::ok();
}

// The file's config where it agrees with the shapes: its mod_basis, hidden_dim and use_output_projection must be the
// shapes' (a disagreement is an error, not a choice), keys bilmod does not know are ignored and named in `notes`, an
// activation the config does not name is the seed's (ReLU) or the upstream's (none) as the state dict tells them
// apart, and the whole must validate as a RunConfig: its bounds on P and H hold before reading allocates from them.
Status reconcile_config(const std::string& path, const PickleValue* config_dict, const IdentifiedModel& identified,
                        RunConfig* out, std::vector<std::string>* notes) {
  const ModelSpec& model = identified.saved->variant;
  const int64_t P = identified.P, H = identified.H;
  std::vector<std::string> ignored;
  nlohmann::json config_json = known_config(config_dict, &ignored);
  if (!config_dict) notes->push_back("the file holds no 'config': operation add and seed 0 assumed");
  if (!ignored.empty()) {
    std::string list;
    for (const auto& n : ignored) list += (list.empty() ? "" : ", ") + n;
    notes->push_back("config keys bilmod does not use were ignored: " + list);
  }
  if (config_json.contains("mod_basis") && config_json["mod_basis"].get<int64_t>() != P)
    return Status::runtime(path + ": config says mod_basis = " + config_json["mod_basis"].dump() + " but " +
                           (model.output_projection ? "output.weight has " : "bilinear.weight has ") +
                           std::to_string(P) + " classes");
  // The direct model's width is P whatever the config's hidden_dim (the upstream saves its unused default).
  if (model.output_projection && config_json.contains("hidden_dim") && config_json["hidden_dim"].get<int64_t>() != H)
    return Status::runtime(path + ": config says hidden_dim = " + config_json["hidden_dim"].dump() +
                           " but output.weight has shape (" + std::to_string(P) + ", " + std::to_string(H) + ")");
  if (config_json.contains("use_output_projection") &&
      config_json["use_output_projection"].get<bool>() != model.output_projection)
    return Status::runtime(path +
                           ": config says use_output_projection = " + config_json["use_output_projection"].dump() +
                           " but the state dict " + (model.output_projection ? "has" : "has no") + " output layer");
  const Model& kind = *identified.saved->model;
  if (!config_json.contains("activation") && !kind.activations().empty()) {
    std::string note;
    const Activation assumed = kind.unnamed_activation(model, config_json.contains("use_output_projection"), &note);
    config_json["activation"] = activation_name(assumed);
    if (!note.empty()) notes->push_back(note);
  }
  config_json["model"] = kind.name();
  config_json["mod_basis"] = P;
  config_json["hidden_dim"] = H;
  config_json["bias"] = model.bias;
  config_json["use_output_projection"] = model.output_projection;
  RunConfig config;
  // A name that no setting knows (a usage Status) is an invalid value, as validate() reports the others.
  if (Status s = config_from_json(config_json, &config); !s)
    return Status::runtime(path + (s.code() == ExitCode::kUsage ? ": its config is invalid: " : ": its config: ") +
                           s.message());
  if (Status s = config.validate(); !s) return Status::runtime(path + ": its config is invalid: " + s.message());
  *out = std::move(config);
  return Status::ok();
}

// The model's parameters into `state`, in bilmod's storage order. First the memory the model's size needs is
// reserved (reserve_for_model: the storages may then take no more than their share); then every tensor must have
// the shape the model gives its parameter, and its view and values pass TorchArchive::values and store_tensor.
Status read_parameters(const std::string& path, const std::map<std::string, const TorchTensorRef*>& tensors,
                       const IdentifiedModel& identified, const RunConfig& config, TorchArchive* storages,
                       TrainingState* state) {
  const std::string kind = identified.saved->model->name();
  const int64_t P = identified.P, H = identified.H;
  state->set_config(config);
  BILMOD_TRY(reserve_for_model(path, state->spec(), state->layout().total, storages));
  state->params.assign(state->layout().total, 0.0f);
  for (const ParameterInfo& info : state->layout().parameters) {
    const TorchTensorRef& t = *tensors.at(info.name);
    if (t.shape != info.torch_shape) {
      std::string dims;
      for (int64_t d : t.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
      return Status::runtime(path + ": tensor '" + info.name + "' has shape (" + dims + ") where a " + kind +
                             " model with P = " + std::to_string(P) + ", H = " + std::to_string(H) + " has another");
    }
    BILMOD_TRY(store_tensor(storages, info.name, t, info, path, "tensor '" + info.name + "'",
                            state->params.data() + info.offset));
  }
  return Status::ok();
}

// The train/validation split, from the first of: the saved train_indices and val_indices (at the root or under
// 'data'), every value a pair index below P^2; the seed's code's torch.randperm, drawn again from the config's seed
// (that code saves no split); or none, every defined pair then evaluated as one set.
Status recover_split(const std::string& path, const PickleValue* root, const PickleValue* config_dict, int64_t P,
                     Operation op, TorchArchive* storages, TorchCheckpoint* result) {
  TrainingState& state = result->state;
  std::vector<double> values;
  const PickleValue* train = find_split_tensor(root, "train_indices");
  const PickleValue* val = find_split_tensor(root, "val_indices");
  if (train && val) {
    std::vector<int64_t> train_idx, val_idx;
    for (auto [ref, dst] : {std::pair{train, &train_idx}, std::pair{val, &val_idx}}) {
      BILMOD_TRY(storages->values("split", ref->tensor, P * P, &values));
      for (double x : values) {
        // A pair index is an integer in [0, P^2); anything else (NaN, 1e300, 2.5) is refused before the cast.
        if (!(x >= 0 && x < static_cast<double>(P * P) && x == std::floor(x)))
          return Status::runtime(path + ": tensor 'split' holds " + std::to_string(x) +
                                 ", which is not a pair index for P = " + std::to_string(P));
        dst->push_back(static_cast<int64_t>(x));
      }
    }
    BILMOD_TRY(dataset_from_split(P, op, std::move(train_idx), std::move(val_idx), &state.data));
    result->split_known = true;
  } else if (const PickleValue* seed = config_dict ? config_dict->get("seed") : nullptr;
             seed && seed->kind == PickleValue::Kind::kInt && seed->integer >= 0) {
    // The seed's code and its upstream save no split: they draw it again from the config's seed.
    RunConfig drawn = state.config();  // with the AdamW settings read_adamw_state took from the file
    drawn.split = SplitKind::kTorch;
    state.set_config(std::move(drawn));
    state.data = state.config().make_data();
    result->split_known = true;
    result->notes.push_back("the split is the seed's code's, drawn again: torch.randperm(" +
                            std::to_string(state.data.train_indices.size() + state.data.val_indices.size()) +
                            ") under manual_seed(" + std::to_string(state.config().effective_data_seed()) +
                            "), the first " + std::to_string(state.data.train_indices.size()) + " train");
  } else {
    // Without the split, every defined pair is evaluated as one set.
    BILMOD_TRY(dataset_from_split(P, op, defined_pairs(P, op), {}, &state.data));
    result->split_known = false;
    result->notes.push_back("the file holds no train/validation split: accuracy and losses are over every pair");
  }
  return Status::ok();
}

}  // namespace

bool is_zip_file(const std::string& path) {
  char magic[4] = {0, 0, 0, 0};
  std::ifstream in(path, std::ios::binary);
  return in.read(magic, 4) && std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

Status load_torch_checkpoint(const std::string& path, TorchCheckpoint* out, bool with_optimizer) {
  // A zip torch.save wrote: one {name}/data.pkl of bounded size, little-endian storages.
  OpenedArchive opened;
  BILMOD_TRY(open_archive(path, &opened));
  // A pickle the restricted unpickler reads, whose root dict holds a state dict or is one.
  PickleDocument doc;
  const PickleValue* state_dict = nullptr;
  BILMOD_TRY(find_state_dict(path, opened.pickle, &doc, &state_dict));
  const PickleValue* root = doc.root;
  // Names mapped to tensors and nothing else, without the wrappers' prefixes.
  StateDictTensors found;
  BILMOD_TRY(collect_tensors(path, *state_dict, &found));
  TorchArchive storages(opened.archive.zip, opened.prefix, path);
  // The Clock-and-Pizza paper's model_<id>.pt, read with its config_<id>.json; the paper saved no optimiser state.
  if (const std::string config_path = clock_pizza_config_path(path);
      !config_path.empty() && found.tensors.count("embed.W_E")) {
    if (with_optimizer)
      return Status::runtime(path +
                             ": the paper saved no optimiser state, so its run cannot be continued: start a "
                             "run from its parameters with --init-from instead");
    BILMOD_TRY(read_clock_pizza(path, config_path, found.tensors, &storages, out));
    out->notes.insert(out->notes.begin(), found.notes.begin(), found.notes.end());
    return Status::ok();
  }
  // The transformer's names go to its own reader; its runs' optimiser state is not read.
  if (found.tensors.count("embed.W_E")) {
    if (with_optimizer)
      return Status::runtime(path +
                             ": continuing a transformer run begun in PyTorch is not supported (its optimiser "
                             "state is not read): start a run from its parameters with --init-from instead");
    BILMOD_TRY(read_transformer(path, root, found.tensors, &storages, out));
    out->notes.insert(out->notes.begin(), found.notes.begin(), found.notes.end());
    return Status::ok();
  }
  // Exactly one model's names, and shapes that give P and H.
  IdentifiedModel model;
  BILMOD_TRY(identify_model(path, found.tensors, &model));
  // A config that agrees with the shapes and validates; what it leaves out is assumed and noted.
  TorchCheckpoint result;
  result.notes = found.notes;
  const PickleValue* config_dict = root->get("config");
  RunConfig config;
  BILMOD_TRY(reconcile_config(path, config_dict, model, &config, &result.notes));
  // Every parameter of its model's shape, within the memory the model's size justifies, finite.
  BILMOD_TRY(read_parameters(path, found.tensors, model, config, &storages, &result.state));
  // --resume-from: AdamW's settings, both moments and one step count over every parameter.
  if (with_optimizer) BILMOD_TRY(read_adamw_state(*root, found.parameter_order, path, &storages, &result.state));
  read_epoch(*root, &result.state);
  // Saved pair indices each below P^2, else the seed's split drawn again, else none.
  BILMOD_TRY(recover_split(path, root, config_dict, model.P, config.operation, &storages, &result));
  *out = std::move(result);
  return Status::ok();
}

}  // namespace bilmod
