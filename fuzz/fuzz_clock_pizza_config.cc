// libFuzzer target: the Clock-and-Pizza paper's config_<id>.json (checkpoint/clock_pizza_config.h), read from a file as
// the reading commands read it. A config it accepts must give a run config that validates.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "checkpoint/clock_pizza_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    char name[] = "/tmp/fuzz_clock_pizza_config_XXXXXX";
    const int fd = mkstemp(name);
    if (fd >= 0) close(fd);
    return std::string(name);
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  bilmod::RunConfig config;
  std::vector<std::string> notes;
  if (!bilmod::read_clock_pizza_config(path, &config, &notes)) return 0;
  if (!config.validate()) {
    std::fprintf(stderr, "an accepted config does not validate\n");
    std::abort();
  }
  return 0;
}
