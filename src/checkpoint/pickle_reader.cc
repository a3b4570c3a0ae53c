#include "checkpoint/pickle_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>

namespace bilmod {

const PickleValue* PickleValue::get(const std::string& key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::kString && k->text == key) return v;
  return nullptr;
}

std::string PickleValue::kind_name() const {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global " + text;
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
  }
  return "?";
}

const std::vector<std::string>& pickle_allowed_globals() {
  static const std::vector<std::string> kAllowed = {"collections.OrderedDict",
                                                    "torch._utils._rebuild_tensor_v2",
                                                    "torch._utils._rebuild_parameter",
                                                    "torch.FloatStorage",
                                                    "torch.DoubleStorage",
                                                    "torch.HalfStorage",
                                                    "torch.BFloat16Storage",
                                                    "torch.LongStorage",
                                                    "torch.IntStorage",
                                                    "torch.ShortStorage",
                                                    "torch.CharStorage",
                                                    "torch.ByteStorage",
                                                    "torch.BoolStorage"};
  return kAllowed;
}

namespace {

// Nothing a state-dict checkpoint holds comes near these; they bound what a hostile file can make us allocate.
constexpr size_t kMaxStack = 1 << 22;
constexpr size_t kMaxContainer = 1 << 24;
// Values made in all (a push and a POP make one and leave none on the stack), MARKs open at once, memo entries.
// The paper's init.pth, the largest pickle these models have, makes ~52,000 values at P = 113 (its split as a
// list of (a, b, P) tuples: 4 values a pair, so this bound holds such a split up to P = 700). A value takes ~250
// bytes, so a hostile pickle can make the arena no larger than ~500 MB.
constexpr size_t kMaxValues = 1 << 21;
constexpr size_t kMaxMarks = 1 << 20;

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& origin)
      : p_(data), end_(data + size), begin_(data), origin_(origin) {}

  std::vector<std::unique_ptr<PickleValue>> take_arena() { return std::move(arena_); }

  Status run(PickleRef* out) {
    while (true) {
      if (p_ >= end_) return fail("ends before its STOP opcode (the file is truncated)");
      const size_t at = static_cast<size_t>(p_ - begin_);
      const uint8_t op = *p_++;
      Status s = step(op, out);
      if (s && arena_.size() > kMaxValues) s = Status::runtime("the pickle makes more values than any checkpoint's");
      if (!s) return Status::runtime(origin_ + ": data.pkl at byte " + std::to_string(at) + ": " + s.message());
      if (done_) return Status::ok();
    }
  }

 private:
  PickleRef make(PickleValue::Kind kind) {
    arena_.push_back(std::make_unique<PickleValue>());
    arena_.back()->kind = kind;
    return arena_.back().get();
  }
  Status fail(const std::string& what) const { return Status::runtime(origin_ + ": data.pkl: " + what); }

  Status need(size_t n) const {
    if (static_cast<size_t>(end_ - p_) < n)
      return Status::runtime("the pickle is truncated inside an opcode's argument");
    return Status::ok();
  }
  uint64_t read_le(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
    p_ += n;
    return v;
  }
  Status push(PickleRef v) {
    if (stack_.size() >= kMaxStack) return Status::runtime("the pickle's stack grows beyond any checkpoint's");
    stack_.push_back(std::move(v));
    return Status::ok();
  }
  Status pop(PickleRef* v) {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) return Status::runtime("the pickle pops an empty stack");
    *v = std::move(stack_.back());
    stack_.pop_back();
    return Status::ok();
  }
  // Everything above the last MARK, which is removed.
  Status pop_mark(std::vector<PickleRef>* items) {
    if (marks_.empty()) return Status::runtime("the pickle uses a MARK it never set");
    const size_t mark = marks_.back();
    marks_.pop_back();
    items->assign(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                  std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return Status::ok();
  }
  Status top(PickleValue::Kind kind, PickleRef* v) {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back()))
      return Status::runtime("the pickle reads an empty stack");
    if (stack_.back()->kind != kind) return Status::runtime("the pickle adds items to a " + stack_.back()->kind_name());
    *v = stack_.back();
    return Status::ok();
  }
  Status add_entries(const PickleRef& dict, std::vector<PickleRef>& kv) {
    if (kv.size() % 2 != 0) return Status::runtime("the pickle sets a dict item without a value");
    if (dict->entries.size() + kv.size() / 2 > kMaxContainer)
      return Status::runtime("a dict grows beyond any checkpoint's");
    for (size_t i = 0; i < kv.size(); i += 2) {
      const PickleRef& key = kv[i];
      if (key->kind != PickleValue::Kind::kString && key->kind != PickleValue::Kind::kInt)
        return Status::runtime("a dict key is a " + key->kind_name() + " (a checkpoint's keys are str or int)");
      // A later value under an existing key replaces it, as in Python; found by hash, so a hostile dict of millions
      // of keys costs linear time.
      auto& index = dict_index_[dict];
      const std::string id =
          key->kind == PickleValue::Kind::kString ? "s" + key->text : "i" + std::to_string(key->integer);
      auto [at, added] = index.emplace(id, dict->entries.size());
      if (added)
        dict->entries.emplace_back(key, kv[i + 1]);
      else
        dict->entries[at->second].second = kv[i + 1];
    }
    return Status::ok();
  }
  Status push_string(PickleValue::Kind kind, size_t length_bytes) {
    BILMOD_TRY(need(length_bytes));
    const uint64_t n = read_le(length_bytes);
    BILMOD_TRY(need(n));
    PickleRef v = make(kind);
    v->text.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return push(std::move(v));
  }
  Status global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    const auto& allowed = pickle_allowed_globals();
    if (std::find(allowed.begin(), allowed.end(), full) == allowed.end())
      return Status::runtime("refused: the pickle names the callable '" + full +
                             "', which a PyTorch state-dict checkpoint never holds (bilmod never runs code from a "
                             "checkpoint; it accepts only OrderedDict, torch tensors and storages)");
    PickleRef v = make(PickleValue::Kind::kGlobal);
    v->text = full;
    return push(std::move(v));
  }
  static Status as_int(const PickleRef& v, const char* what, int64_t* out) {
    if (v->kind != PickleValue::Kind::kInt)
      return Status::runtime(std::string(what) + " is a " + v->kind_name() + ", not an int");
    *out = v->integer;
    return Status::ok();
  }
  static Status int_tuple(const PickleRef& v, const char* what, std::vector<int64_t>* out) {
    if (v->kind != PickleValue::Kind::kTuple)
      return Status::runtime(std::string(what) + " is a " + v->kind_name() + ", not a tuple");
    out->clear();
    for (const auto& item : v->items) {
      int64_t x;
      BILMOD_TRY(as_int(item, what, &x));
      out->push_back(x);
    }
    return Status::ok();
  }
  // REDUCE with an allowed callable: build the value it would have returned, without calling anything.
  Status reduce(const PickleRef& callable, const PickleRef& args) {
    if (callable->kind != PickleValue::Kind::kGlobal) return Status::runtime("REDUCE calls a " + callable->kind_name());
    if (args->kind != PickleValue::Kind::kTuple) return Status::runtime("REDUCE's arguments are not a tuple");
    const std::string& name = callable->text;
    if (name == "collections.OrderedDict") {
      PickleRef dict = make(PickleValue::Kind::kDict);
      if (!args->items.empty()) {  // OrderedDict([(k, v), ...])
        const PickleRef& pairs = args->items[0];
        if (pairs->kind != PickleValue::Kind::kList && pairs->kind != PickleValue::Kind::kTuple)
          return Status::runtime("OrderedDict's argument is a " + pairs->kind_name());
        std::vector<PickleRef> kv;
        for (const auto& pair : pairs->items) {
          if (pair->items.size() != 2) return Status::runtime("OrderedDict's item is not a (key, value) pair");
          kv.push_back(pair->items[0]);
          kv.push_back(pair->items[1]);
        }
        BILMOD_TRY(add_entries(dict, kv));
      }
      return push(std::move(dict));
    }
    if (name == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args->items.size() < 6 || args->items.size() > 7)
        return Status::runtime("_rebuild_tensor_v2 takes 6 or 7 arguments");
      if (args->items[0]->kind != PickleValue::Kind::kStorage)
        return Status::runtime("a tensor's storage is a " + args->items[0]->kind_name());
      PickleRef t = make(PickleValue::Kind::kTensor);
      t->tensor = args->items[0]->tensor;
      BILMOD_TRY(as_int(args->items[1], "a tensor's storage offset", &t->tensor.storage_offset));
      BILMOD_TRY(int_tuple(args->items[2], "a tensor's size", &t->tensor.shape));
      BILMOD_TRY(int_tuple(args->items[3], "a tensor's stride", &t->tensor.stride));
      if (t->tensor.shape.size() != t->tensor.stride.size())
        return Status::runtime("a tensor's size and stride differ in length");
      return push(std::move(t));
    }
    if (name == "torch._utils._rebuild_parameter") {  // (tensor, requires_grad, backward_hooks)
      if (args->items.size() != 3 || args->items[0]->kind != PickleValue::Kind::kTensor)
        return Status::runtime("_rebuild_parameter's first argument is not a tensor");
      return push(args->items[0]);
    }
    return Status::runtime("REDUCE calls '" + name +
                           "', which is not a constructor (a storage type is only valid in a persistent id)");
  }
  Status persistent_load(const PickleRef& pid) {
    // ('storage', torch.<Type>Storage, key, location, numel)
    if (pid->kind != PickleValue::Kind::kTuple || pid->items.size() != 5 ||
        pid->items[0]->kind != PickleValue::Kind::kString || pid->items[0]->text != "storage")
      return Status::runtime("a persistent id is not ('storage', type, key, location, numel)");
    const PickleRef& type = pid->items[1];
    if (type->kind != PickleValue::Kind::kGlobal || type->text.rfind("torch.", 0) != 0 || type->text.size() < 13 ||
        type->text.compare(type->text.size() - 7, 7, "Storage") != 0)
      return Status::runtime("a persistent id's storage type is a " + type->kind_name());
    if (pid->items[2]->kind != PickleValue::Kind::kString) return Status::runtime("a storage key is not a string");
    PickleRef s = make(PickleValue::Kind::kStorage);
    s->tensor.storage_type = type->text.substr(6);
    s->tensor.storage_key = pid->items[2]->text;
    BILMOD_TRY(as_int(pid->items[4], "a storage's element count", &s->tensor.storage_numel));
    return push(std::move(s));
  }

  Status step(uint8_t op, PickleRef* out) {
    using K = PickleValue::Kind;
    switch (op) {
      case 0x80:
        BILMOD_TRY(need(1));
        ++p_;
        return Status::ok();  // PROTO
      case 0x95:
        BILMOD_TRY(need(8));
        p_ += 8;
        return Status::ok();  // FRAME: a length hint
      case '.': {             // STOP
        if (stack_.size() != 1 || !marks_.empty()) return Status::runtime("STOP leaves more than one value");
        *out = stack_.back();
        done_ = true;
        return Status::ok();
      }
      case '(':  // MARK
        if (marks_.size() >= kMaxMarks) return Status::runtime("the pickle opens more MARKs than any checkpoint's");
        marks_.push_back(stack_.size());
        return Status::ok();
      case '0': {
        PickleRef v;
        return pop(&v);
      }  // POP
      case '1': {
        std::vector<PickleRef> v;
        return pop_mark(&v);
      }            // POP_MARK
      case '2': {  // DUP
        if (stack_.empty()) return Status::runtime("DUP on an empty stack");
        return push(stack_.back());
      }
      case 'N':
        return push(make(K::kNone));
      case 0x88:
      case 0x89: {
        PickleRef v = make(K::kBool);
        v->boolean = op == 0x88;
        return push(v);
      }
      case 'J': {
        BILMOD_TRY(need(4));
        PickleRef v = make(K::kInt);
        v->integer = static_cast<int32_t>(read_le(4));
        return push(v);
      }
      case 'K': {
        BILMOD_TRY(need(1));
        PickleRef v = make(K::kInt);
        v->integer = static_cast<int64_t>(read_le(1));
        return push(v);
      }
      case 'M': {
        BILMOD_TRY(need(2));
        PickleRef v = make(K::kInt);
        v->integer = static_cast<int64_t>(read_le(2));
        return push(v);
      }
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        const size_t len_bytes = op == 0x8a ? 1 : 4;
        BILMOD_TRY(need(len_bytes));
        const uint64_t n = read_le(len_bytes);
        if (n > 8) return Status::runtime("an integer wider than 64 bits");
        BILMOD_TRY(need(n));
        uint64_t v = n ? read_le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        PickleRef r = make(K::kInt);
        r->integer = static_cast<int64_t>(v);
        return push(r);
      }
      case 'G': {  // BINFLOAT: big-endian double
        BILMOD_TRY(need(8));
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p_[i];
        p_ += 8;
        PickleRef v = make(K::kFloat);
        std::memcpy(&v->real, &bits, 8);
        return push(v);
      }
      case 'X':
        return push_string(K::kString, 4);  // BINUNICODE
      case 0x8c:
        return push_string(K::kString, 1);  // SHORT_BINUNICODE
      case 0x8d:
        return push_string(K::kString, 8);  // BINUNICODE8
      case 'T':
        return push_string(K::kString, 4);  // BINSTRING
      case 'U':
        return push_string(K::kString, 1);  // SHORT_BINSTRING
      case 'B':
        return push_string(K::kBytes, 4);  // BINBYTES
      case 'C':
        return push_string(K::kBytes, 1);  // SHORT_BINBYTES
      case 0x8e:
        return push_string(K::kBytes, 8);  // BINBYTES8
      case ']':
        return push(make(K::kList));
      case ')':
        return push(make(K::kTuple));
      case '}':
        return push(make(K::kDict));
      case 'a': {  // APPEND
        PickleRef v, list;
        BILMOD_TRY(pop(&v));
        BILMOD_TRY(top(K::kList, &list));
        if (list->items.size() >= kMaxContainer) return Status::runtime("a list grows beyond any checkpoint's");
        list->items.push_back(std::move(v));
        return Status::ok();
      }
      case 'e': {  // APPENDS
        std::vector<PickleRef> items;
        BILMOD_TRY(pop_mark(&items));
        PickleRef list;
        BILMOD_TRY(top(K::kList, &list));
        if (list->items.size() + items.size() > kMaxContainer)
          return Status::runtime("a list grows beyond any checkpoint's");
        list->items.insert(list->items.end(), items.begin(), items.end());
        return Status::ok();
      }
      case 'l':
      case 't': {  // LIST, TUPLE
        PickleRef v = make(op == 'l' ? K::kList : K::kTuple);
        BILMOD_TRY(pop_mark(&v->items));
        return push(std::move(v));
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84;
        PickleRef v = make(K::kTuple);
        v->items.resize(n);
        for (size_t i = n; i-- > 0;) BILMOD_TRY(pop(&v->items[i]));
        return push(std::move(v));
      }
      case 'd': {  // DICT
        std::vector<PickleRef> kv;
        BILMOD_TRY(pop_mark(&kv));
        PickleRef dict = make(K::kDict);
        BILMOD_TRY(add_entries(dict, kv));
        return push(std::move(dict));
      }
      case 's': {  // SETITEM
        std::vector<PickleRef> kv(2);
        BILMOD_TRY(pop(&kv[1]));
        BILMOD_TRY(pop(&kv[0]));
        PickleRef dict;
        BILMOD_TRY(top(K::kDict, &dict));
        return add_entries(dict, kv);
      }
      case 'u': {  // SETITEMS
        std::vector<PickleRef> kv;
        BILMOD_TRY(pop_mark(&kv));
        PickleRef dict;
        BILMOD_TRY(top(K::kDict, &dict));
        return add_entries(dict, kv);
      }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string parts[2];
        for (auto& part : parts) {
          const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
          if (!nl) return Status::runtime("GLOBAL's name is not terminated");
          part.assign(reinterpret_cast<const char*>(p_), static_cast<size_t>(nl - p_));
          p_ = nl + 1;
        }
        return global(parts[0], parts[1]);
      }
      case 0x93: {  // STACK_GLOBAL
        PickleRef name, module;
        BILMOD_TRY(pop(&name));
        BILMOD_TRY(pop(&module));
        if (name->kind != K::kString || module->kind != K::kString)
          return Status::runtime("STACK_GLOBAL's names are not strings");
        return global(module->text, name->text);
      }
      case 'R': {  // REDUCE
        PickleRef args, callable;
        BILMOD_TRY(pop(&args));
        BILMOD_TRY(pop(&callable));
        return reduce(callable, args);
      }
      case 'b': {  // BUILD: only a dict's attributes (state_dict._metadata)
        PickleRef state;
        BILMOD_TRY(pop(&state));
        if (stack_.empty() || stack_.back()->kind != K::kDict)
          return Status::runtime("BUILD sets the state of a " +
                                 (stack_.empty() ? std::string("nothing") : stack_.back()->kind_name()));
        return Status::ok();  // the OrderedDict's _metadata (module versions) is not needed
      }
      case 'q': {
        BILMOD_TRY(need(1));
        return memo_put(read_le(1));
      }  // BINPUT
      case 'r': {
        BILMOD_TRY(need(4));
        return memo_put(read_le(4));
      }  // LONG_BINPUT
      case 0x94:
        return memo_put(memo_.size());  // MEMOIZE
      case 'h': {
        BILMOD_TRY(need(1));
        return memo_get(read_le(1));
      }  // BINGET
      case 'j': {
        BILMOD_TRY(need(4));
        return memo_get(read_le(4));
      }            // LONG_BINGET
      case 'Q': {  // BINPERSID
        PickleRef pid;
        BILMOD_TRY(pop(&pid));
        return persistent_load(pid);
      }
      case 0x81:
      case 0x92:
      case 'i':
      case 'o':
      case 0x82:
      case 0x83:
      case 0x84:
        return Status::runtime("refused: opcode 0x" + hex(op) +
                               " builds an arbitrary object, which a state-dict checkpoint never holds");
      default:
        return Status::runtime("unsupported pickle opcode 0x" + hex(op) +
                               " (not one torch.save writes for a state dict)");
    }
  }
  static std::string hex(uint8_t op) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", op);
    return buf;
  }
  Status memo_put(uint64_t index) {
    if (stack_.empty()) return Status::runtime("memoizes an empty stack");
    if (memo_.size() >= kMaxValues && !memo_.count(index))
      return Status::runtime("the memo grows beyond any checkpoint's");
    memo_[index] = stack_.back();
    return Status::ok();
  }
  Status memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end())
      return Status::runtime("reads memo entry " + std::to_string(index) + ", which was never stored");
    return push(it->second);
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  const std::string& origin_;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleRef> memo_;
  std::unordered_map<const PickleValue*, std::unordered_map<std::string, size_t>> dict_index_;
  std::vector<std::unique_ptr<PickleValue>> arena_;
  bool done_ = false;
};

}  // namespace

Status parse_pickle(const uint8_t* data, size_t size, const std::string& origin, PickleDocument* out) {
  Unpickler unpickler(data, size, origin);
  PickleRef root = nullptr;
  BILMOD_TRY(unpickler.run(&root));
  out->values = unpickler.take_arena();
  out->root = root;
  return Status::ok();
}

}  // namespace bilmod
