// The restricted unpickler on hand-made pickles: what a torch state dict holds parses; anything that would run
// code is refused by name; hostile shapes (truncation at every length, deep nesting, self-reference, bad memo
// references) give an error, never a crash. Real torch.save files are tested from Python
// (tests/parity/test_analysis_torch_checkpoint.py).
#include <gtest/gtest.h>

#include <string>

#include "checkpoint/pickle_reader.h"

namespace bilmod {
namespace {

Status parse(const std::string& bytes, PickleDocument* doc) {
  return parse_pickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.pt", doc);
}

// Writes pickle opcodes by name, so the test reads like pickletools.dis output.
struct PickleBytes {
  std::string b = std::string("\x80\x02", 2);  // PROTO 2
  PickleBytes& op(char c) {
    b += c;
    return *this;
  }
  PickleBytes& str(const std::string& s) {  // BINUNICODE
    b += 'X';
    for (int i = 0; i < 4; ++i) b += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    b += s;
    return *this;
  }
  PickleBytes& int1(int v) {
    b += 'K';
    b += static_cast<char>(v);
    return *this;
  }
  PickleBytes& global(const std::string& module, const std::string& name) {
    b += 'c' + module + "\n" + name + "\n";
    return *this;
  }
  PickleBytes& put(int i) {
    b += 'q';
    b += static_cast<char>(i);
    return *this;
  }
  PickleBytes& get(int i) {
    b += 'h';
    b += static_cast<char>(i);
    return *this;
  }
};

// {'epoch': 3, 'sd': OrderedDict(w=_rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6), 0, (2, 3), (3, 1),
//  False, OrderedDict()))}, as torch.save writes it.
std::string state_dict_pickle() {
  PickleBytes p;
  p.op('}').put(0).op('(').str("epoch").int1(3).str("sd");
  p.global("collections", "OrderedDict").put(1).op(')').op('R').put(2);
  p.str("w").global("torch._utils", "_rebuild_tensor_v2").op('(');
  p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int1(6).op('t').op('Q');
  p.int1(0).int1(2).int1(3).op('\x86').int1(3).int1(1).op('\x86').op('\x89').get(1).op(')').op('R').op('t').op('R');
  p.op('s');  // sd['w'] = tensor
  p.op('u');  // the outer dict's items
  p.op('.');
  return p.b;
}

TEST(TorchPickle, ParsesAStateDict) {
  PickleDocument doc;
  const Status s = parse(state_dict_pickle(), &doc);
  ASSERT_TRUE(s.is_ok()) << s.message();
  ASSERT_EQ(doc.root->kind, PickleValue::Kind::kDict);
  ASSERT_NE(doc.root->get("epoch"), nullptr);
  EXPECT_EQ(doc.root->get("epoch")->integer, 3);
  const PickleValue* sd = doc.root->get("sd");
  ASSERT_NE(sd, nullptr);
  const PickleValue* w = sd->get("w");
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->kind, PickleValue::Kind::kTensor);
  EXPECT_EQ(w->tensor.storage_type, "FloatStorage");
  EXPECT_EQ(w->tensor.storage_key, "0");
  EXPECT_EQ(w->tensor.storage_numel, 6);
  EXPECT_EQ(w->tensor.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->tensor.stride, (std::vector<int64_t>{3, 1}));
}

TEST(TorchPickle, RefusesAnyOtherCallable) {
  for (const std::string& callable :
       {std::string("os\nsystem\n"), std::string("builtins\neval\n"), std::string("subprocess\nPopen\n"),
        std::string("torch\nload\n"), std::string("numpy.core.multiarray\nscalar\n")}) {
    const std::string p = std::string("\x80\x02", 2) + "c" + callable + PickleBytes().str("id").b.substr(2) + "\x85R.";
    PickleDocument doc;
    const Status s = parse(p, &doc);
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("refused"), std::string::npos) << s.message();
    EXPECT_EQ(s.exit_code(), 1);
  }
  // STACK_GLOBAL (protocol 4) the same way.
  PickleDocument doc;
  const Status s = parse(std::string("\x80\x04\x8c\x02os\x8c\x06system\x93)R."), &doc);  // 18 bytes, no NUL
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("os.system"), std::string::npos) << s.message();
  // Opcodes that build arbitrary objects, each given the stack it needs, so that an unpickler that executed it would
  // succeed: only refusing the opcode itself makes these errors. NEWOBJ (cls, args), NEWOBJ_EX (cls, args, kwargs),
  // OBJ (MARK cls args...), INST (MARK args... then module/name). collections.OrderedDict is an allowed global.
  const std::string cls = PickleBytes().global("collections", "OrderedDict").b.substr(2);
  for (const std::string& p :
       {std::string("\x80\x02", 2) + cls + ")\x81.", std::string("\x80\x04", 2) + cls + ")}\x92.",
        std::string("\x80\x02(", 3) + cls + "o.", std::string("\x80\x02(icollections\nOrderedDict\n.")}) {
    const Status r = parse(p, &doc);
    EXPECT_FALSE(r.is_ok());
    EXPECT_NE(r.message().find("refused"), std::string::npos) << r.message();
  }
}

TEST(TorchPickle, TruncatedAtEveryLengthIsAnError) {
  const std::string full = state_dict_pickle();
  for (size_t n = 0; n < full.size(); ++n) {
    PickleDocument doc;
    EXPECT_FALSE(parse(full.substr(0, n), &doc).is_ok()) << "length " << n;
  }
}

TEST(TorchPickle, HostileShapesDoNotCrash) {
  PickleDocument doc;
  // A million nested tuples, freed without recursion.
  std::string deep = "\x80\x02)";
  for (int i = 0; i < 1000000; ++i) deep += '\x85';
  deep += '.';
  EXPECT_TRUE(parse(deep, &doc).is_ok());
  // A list that contains itself.
  EXPECT_TRUE(parse(PickleBytes().op(']').put(0).get(0).op('a').op('.').b, &doc).is_ok());
  // A memo entry never stored; a pop of an empty stack; a MARK never set; a BUILD on an int.
  for (const std::string& p :
       {PickleBytes().get(5).op('.').b, PickleBytes().op('0').op('.').b, PickleBytes().op('t').op('.').b,
        PickleBytes().int1(1).int1(2).op('b').op('.').b, PickleBytes().int1(1).int1(2).op('.').b}) {
    EXPECT_FALSE(parse(p, &doc).is_ok());
  }
  // Every single byte value as an opcode.
  for (int op = 0; op < 256; ++op) {
    std::string p = "\x80\x02";
    p += static_cast<char>(op);
    p += '.';
    (void)parse(p, &doc);
  }
}

}  // namespace
}  // namespace bilmod
