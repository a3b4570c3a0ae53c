// The safetensors container's rules (docs/FORMATS.md): what the reference loader refuses, bilmod refuses too, with
// one line naming the file and the fault; what it accepts round-trips byte for byte.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/safetensors.h"

namespace bilmod {
namespace {

// 8-byte little-endian length, the header as given (padded with spaces), then `data`.
std::string container(const std::string& header, const std::string& data, bool pad = true) {
  std::string h = header;
  if (pad) h.append((8 - h.size() % 8) % 8, ' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xFF));
  return out + h + data;
}

Status parse(const std::string& bytes, SafetensorsFile* file = nullptr) {
  SafetensorsFile scratch;
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.safetensors",
                           file ? file : &scratch);
}

TEST(Safetensors, RoundTripsEveryDtypeAndEmptyTensors) {
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]},"c":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},)"
      R"("d":{"dtype":"BOOL","shape":[3],"data_offsets":[20,23]},"e":{"dtype":"F32","shape":[0,5],"data_offsets":[23,23]},)"
      R"("f":{"dtype":"U8","shape":[],"data_offsets":[23,24]}})";
  SafetensorsFile file;
  ASSERT_TRUE(parse(container(header, std::string(24, '\x01')), &file).is_ok());
  EXPECT_EQ(file.tensors.size(), 6u);
  EXPECT_EQ(file.metadata.at("k"), "v");
  const std::string once = serialize_safetensors(file);
  SafetensorsFile again;
  ASSERT_TRUE(parse(once, &again).is_ok());
  EXPECT_EQ(serialize_safetensors(again), once);
}

struct BadCase {
  const char* what;
  std::string bytes;
  const char* expected;  // part of the message
};

TEST(Safetensors, RefusesWhatTheReferenceRefuses) {
  const std::string t = R"("dtype":"F32","shape":[1])";
  const std::vector<BadCase> cases = {
      {"shorter than the length", std::string(5, '\0'), "shorter than the 8-byte"},
      {"length past the end", container("{}", "").substr(0, 8) + "{", "runs past the end"},
      {"length above 100 MB", std::string("\x00\xe2\x05\x06\x00\x00\x00\x00", 8) + "{}", "exceeds 100 MB"},
      {"header not JSON", container("{nope", ""), "not a JSON object"},
      {"header a list", container("[]", ""), "not a JSON object"},
      {"NUL after the JSON", container(std::string("{}\0xx", 5), ""), "NUL"},
      {"metadata not an object", container(R"({"__metadata__":[]})", ""), "__metadata__ is not an object"},
      {"metadata value not a string", container(R"({"__metadata__":{"k":1}})", ""), "is not a string"},
      {"unknown dtype", container(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x"), "unknown dtype"},
      {"extra key", container(R"({"a":{)" + t + R"(,"data_offsets":[0,4],"x":1}})", "xxxx"), "exactly dtype"},
      {"negative dim", container(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "xxxx"), "non-negative"},
      {"huge shape", container(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", "xxxx"),
       "too large"},
      {"offsets reversed", container(R"({"a":{)" + t + R"(,"data_offsets":[4,0]}})", "xxxx"), "outside"},
      {"offsets past the buffer", container(R"({"a":{)" + t + R"(,"data_offsets":[0,8]}})", "xxxx"), "outside"},
      {"offsets disagree with shape", container(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "xxxx"),
       "dtype x shape"},
      {"gap", container(R"({"a":{)" + t + R"(,"data_offsets":[4,8]}})", "xxxxxxxx"), "gap"},
      {"overlap",
       container(R"({"a":{)" + t + R"(,"data_offsets":[0,4]},"b":{)" + t + R"(,"data_offsets":[0,4]}})", "xxxx"),
       "overlap"},
      {"buffer not covered", container(R"({"a":{)" + t + R"(,"data_offsets":[0,4]}})", "xxxxxxxx"), "cover"},
  };
  for (const BadCase& c : cases) {
    const Status s = parse(c.bytes);
    ASSERT_FALSE(s.is_ok()) << c.what << ": accepted";
    EXPECT_EQ(s.exit_code(), 1) << c.what;
    EXPECT_EQ(s.message().rfind("t.safetensors: ", 0), 0u) << c.what << ": " << s.message();
    EXPECT_NE(s.message().find(c.expected), std::string::npos) << c.what << ": " << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << c.what << ": " << s.message();
  }
}

}  // namespace
}  // namespace bilmod
