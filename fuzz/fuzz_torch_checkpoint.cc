// libFuzzer target: a torch.save (.pt) checkpoint, the zip container and the pickle inside, through the same
// paths `--init-from`, the analysis commands and `--resume-from` use. The loader takes a path, so each input goes
// to a file in /dev/shm (tmpfs) first.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "checkpoint/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/bilmod_fuzz_torch_" + std::to_string(::getpid()) + ".pt";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  for (bool with_optimizer : {false, true}) {  // as --init-from and analysis read it, and as --resume-from does
    bilmod::TorchCheckpoint checkpoint;
    (void)bilmod::load_torch_checkpoint(path, &checkpoint, with_optimizer);
  }
  std::remove(path.c_str());
  return 0;
}
