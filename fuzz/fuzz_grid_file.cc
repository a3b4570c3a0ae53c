// libFuzzer target: bilmod sweep's --grid-file (JSON or TOML, sweep/grid_file.h) on arbitrary bytes. The first
// byte picks the format as the file's extension would; the rest is the file, written to /dev/shm (tmpfs)
// because the loader takes a path.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "sweep/grid_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string base = "/dev/shm/bilmod_fuzz_grid_" + std::to_string(::getpid());
  const std::string path = base + ((data[0] & 1) ? ".toml" : ".json");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  bilmod::SweepSpec spec;
  (void)bilmod::load_grid_file(path, &spec);
  std::remove(path.c_str());
  return 0;
}
