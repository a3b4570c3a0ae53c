// A restricted unpickler for exactly what torch.save puts in a state-dict checkpoint's data.pkl: dicts, lists,
// tuples, numbers, strings, OrderedDict, and tensors as references to storages in the zip. It builds values
// and never calls anything: a GLOBAL outside the allowlist (collections.OrderedDict, torch's tensor and
// parameter rebuilders, torch.<Type>Storage) is refused with an error naming it, as is any opcode that could
// construct an arbitrary object (NEWOBJ, INST, OBJ, EXT*), so loading a checkpoint never runs code.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace bilmod {

struct PickleValue;
// Values link to each other by plain pointers into their document's arena: a hostile pickle can nest a
// million levels deep or make a list contain itself, and freeing the arena is still one flat loop.
using PickleRef = PickleValue*;

// A tensor as torch._utils._rebuild_tensor_v2 would rebuild it: a strided view of a storage in the archive.
struct TorchTensorRef {
  std::string storage_key;     // the zip entry {archive}/data/{storage_key}
  std::string storage_type;    // "FloatStorage", "LongStorage", ...
  int64_t storage_numel = 0;   // elements in the storage
  int64_t storage_offset = 0;  // first element of the view
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;  // in elements
};

struct PickleValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kList, kTuple, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                                      // string, bytes, or a global's "module.name"
  std::vector<PickleRef> items;                          // list, tuple
  std::vector<std::pair<PickleRef, PickleRef>> entries;  // dict, in insertion order
  TorchTensorRef tensor;                                 // storage (storage fields only) and tensor

  // A dict's value under a string key, or null.
  const PickleValue* get(const std::string& key) const;
  std::string kind_name() const;
};

// The callables a state-dict checkpoint may name (module and name joined by a dot).
const std::vector<std::string>& pickle_allowed_globals();

// Every value of one pickle, owned in one arena; `root` is what STOP returned.
struct PickleDocument {
  std::vector<std::unique_ptr<PickleValue>> values;
  const PickleValue* root = nullptr;
};

// Parses one pickle (protocols 2 to 5, binary opcodes). `origin` names the file in error messages.
Status parse_pickle(const uint8_t* data, size_t size, const std::string& origin, PickleDocument* out);

}  // namespace bilmod
