#include "util/memory_budget.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace bilmod {

std::optional<int64_t> available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t value = 0;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;  // the kernel reports kB
  }
  return std::nullopt;
}

Status parse_memory_size(const std::string& text, const std::string& flag_name, int64_t* bytes) {
  auto bad = [&] {
    return Status::usage(flag_name + ": '" + text +
                         "' is not a memory size (a byte count, or a number with K, M, G or T, e.g. 8G)");
  };
  if (text.empty()) return bad();
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(number) || number <= 0) return bad();
  std::string suffix(end);
  if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.pop_back();  // "8GB" reads as "8G"
  double scale = 1;
  if (suffix.empty())
    scale = 1;
  else if (suffix == "K" || suffix == "k")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "m")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "g")
    scale = 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "t")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else
    return bad();
  const double value = number * scale;
  if (value >= 9.0e18) return bad();
  *bytes = static_cast<int64_t>(value);
  return Status::ok();
}

std::string format_memory(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f GB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.0f MB", b / (1024.0 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.0f KB", b / 1024.0);
  return buf;
}

namespace {
// The override to suggest: the estimate rounded up to a whole G (or M below 1 G).
std::string suggested_override(int64_t bytes) {
  const double g = static_cast<double>(bytes) / (1024.0 * 1024 * 1024);
  if (g >= 1) return std::to_string(static_cast<int64_t>(std::ceil(g))) + "G";
  return std::to_string(static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / (1024.0 * 1024)))) + "M";
}
}  // namespace

Status memory_budget(const std::string& max_memory, MemoryBudget* budget) {
  MemoryBudget b;
  if (!max_memory.empty()) {
    BILMOD_TRY(parse_memory_size(max_memory, "--max-memory", &b.bytes));
    b.source = "--max-memory";
  } else if (const std::optional<int64_t> available = available_memory_bytes()) {
    b.bytes = *available;
    b.source = "MemAvailable in /proc/meminfo";
  }
  *budget = b;
  return Status::ok();
}

Status check_memory(const MemoryEstimate& estimate, const MemoryBudget& budget) {
  if (budget.bytes < 0 || estimate.bytes <= budget.bytes) return Status::ok();
  return Status::usage("needs about " + format_memory(estimate.bytes) + " of memory (" + estimate.what + "), but " +
                       format_memory(budget.bytes) + " is available (" + budget.source + "): " + estimate.remedy +
                       ", or --max-memory " + suggested_override(estimate.bytes) + " to run anyway");
}

}  // namespace bilmod
