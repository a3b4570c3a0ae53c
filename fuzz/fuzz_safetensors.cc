// libFuzzer target: the safetensors container on arbitrary bytes. A file that parses must serialise to a
// file that parses to the same tensors and metadata, and serialising that again must give the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "checkpoint/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bilmod::SafetensorsFile file;
  if (!bilmod::parse_safetensors(data, size, "fuzz", &file)) return 0;
  const std::string once = bilmod::serialize_safetensors(file);
  bilmod::SafetensorsFile again;
  const bilmod::Status s =
      bilmod::parse_safetensors(reinterpret_cast<const uint8_t*>(once.data()), once.size(), "again", &again);
  if (!s) {
    std::fprintf(stderr, "a parsed file does not parse after serialising: %s\n", s.message().c_str());
    std::abort();
  }
  if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size()) std::abort();
  for (const auto& [name, t] : file.tensors) {
    const auto& u = again.tensors.at(name);
    if (u.dtype != t.dtype || u.shape != t.shape || u.bytes != t.bytes) {
      std::fprintf(stderr, "tensor '%s' changed in the round trip\n", name.c_str());
      std::abort();
    }
  }
  if (bilmod::serialize_safetensors(again) != once) std::abort();
  return 0;
}
