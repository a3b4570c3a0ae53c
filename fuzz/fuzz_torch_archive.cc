// libFuzzer target: the pickle and storages of a torch.save archive, past the zip layer. fuzz_torch_checkpoint
// mutates the zip's bytes, so nearly every mutation of data.pkl or a storage fails the entry's CRC and never reaches
// the unpickler or the tensor views. Here the input is the archive's entries in a plain container, and the target
// zips them (stored, with fresh CRCs) before loading:
//   repeated { u8 name length, name, u32 little-endian data length, data }   (a short tail is ignored)
// Each archive is loaded twice, as --init-from and the analysis commands read it and as --resume-from does
// (with AdamW's state), so both paths see every input. fuzz/make_corpus.py writes the seeds from real files.
#include <unistd.h>
#include <zip.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "checkpoint/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/bilmod_fuzz_archive_" + std::to_string(::getpid()) + ".pt";
  std::remove(path.c_str());
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (!zip) return 0;
  size_t at = 0;
  while (at < size) {
    const size_t name_length = data[at++];
    if (size - at < name_length + 4) break;
    const std::string name(reinterpret_cast<const char*>(data + at), name_length);
    at += name_length;
    size_t length = 0;
    for (int i = 0; i < 4; ++i) length |= static_cast<size_t>(data[at + i]) << (8 * i);
    at += 4;
    if (length > size - at) length = size - at;
    // zip_source_buffer keeps the pointer until zip_close: the fuzzer's input lives that long.
    zip_source_t* source = zip_source_buffer(zip, data + at, length, 0);
    at += length;
    if (!source) break;
    const zip_int64_t index = zip_file_add(zip, name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      continue;  // an empty or repeated name
    }
    zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
  }
  if (zip_close(zip) != 0) {
    zip_discard(zip);
    std::remove(path.c_str());
    return 0;
  }
  for (bool with_optimizer : {false, true}) {
    bilmod::TorchCheckpoint checkpoint;
    (void)bilmod::load_torch_checkpoint(path, &checkpoint, with_optimizer);
  }
  std::remove(path.c_str());
  return 0;
}
