// One number in a printf format ("%.3g"), as the reports, captions and figure scripts write them.
#pragma once
#include <cstdio>
#include <string>

namespace bilmod {

inline std::string format_number(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

}  // namespace bilmod
