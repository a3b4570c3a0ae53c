// libFuzzer target: the restricted unpickler (checkpoint/pickle_reader.h) on arbitrary bytes: never a crash,
// never a hang, whatever the opcodes.
#include <cstdint>

#include "checkpoint/pickle_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bilmod::PickleDocument document;
  (void)bilmod::parse_pickle(data, size, "fuzz", &document);
  return 0;
}
