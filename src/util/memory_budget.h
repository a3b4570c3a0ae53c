// What a command will need, checked against what the machine has before any work starts (docs/FORMATS.md
// "Exit codes": a refusal is exit 2, like a usage error, because the remedy is a different command line).
// Available memory is /proc/meminfo's MemAvailable, read once at start; --max-memory SIZE replaces it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "util/status.h"

namespace bilmod {

struct MemoryEstimate {
  int64_t bytes = 0;
  std::string what;    // what was estimated, e.g. "analyze: factored, P = 997, H = 256"
  std::string remedy;  // the flags that would lower it, e.g. "a smaller --hidden-dim"
};

// MemAvailable in bytes, or nullopt where /proc/meminfo has none.
std::optional<int64_t> available_memory_bytes();

// "12G", "500M", "64K", "2.5G" or a byte count; K/M/G/T are powers of 1024. A usage Status for anything else.
Status parse_memory_size(const std::string& text, const std::string& flag_name, int64_t* bytes);

// "1.2 GB" (powers of 1024, as --max-memory reads them).
std::string format_memory(int64_t bytes);

// What a command may use: --max-memory when given (its text parsed), else MemAvailable read now (at the
// command's start, before it loads anything). bytes < 0: unknown (no /proc/meminfo), and nothing is refused.
struct MemoryBudget {
  int64_t bytes = -1;
  std::string source;  // "--max-memory" or "MemAvailable in /proc/meminfo"
};
Status memory_budget(const std::string& max_memory, MemoryBudget* budget);

// ok when the estimate fits; else the refusal (a usage Status, exit 2):
// "needs about X of memory (WHAT), but Y is available (SOURCE): REMEDY, or --max-memory X to run anyway".
Status check_memory(const MemoryEstimate& estimate, const MemoryBudget& budget);

}  // namespace bilmod
