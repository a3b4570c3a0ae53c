// A speed switch between two exact ways of computing the same thing: a plain float path, fast unless it meets
// subnormal floats (each such operation costs an Intel core a microcode assist), and a detour that avoids them at a
// steady cost. Calls that do not watch ask the core afterwards whether they met a subnormal (MXCSR's sticky flags);
// the next call watches if so, and a watching call that finds nothing to detour stops. Both paths give the same
// bits, so the switch (one per use, shared by the process, relaxed) decides speed only. Used by AdamW's dense step
// (optimizer.cc) and the backward's faded units (output_layer.cc).
#pragma once
#include <atomic>

#if defined(__SSE__)
#include <immintrin.h>

namespace bilmod {

constexpr unsigned kMxcsrDenormalOperand = 0x02, kMxcsrUnderflow = 0x10;  // MXCSR's sticky DE and UE flags

class SubnormalWatch {
 public:
  explicit constexpr SubnormalWatch(unsigned flags) : flags_(flags) {}
  bool watching() const { return on_.load(std::memory_order_relaxed); }
  // On each thread of a call that does not watch: before its work, and after it (whether the core met one).
  void clear_flags() const { _mm_setcsr(_mm_getcsr() & ~flags_); }
  bool flags_raised() const { return (_mm_getcsr() & flags_) != 0; }
  // After the call: met = (watching) something took the detour, (not watching) the flags were raised.
  void update(bool watched, bool met) {
    if (met != watched) on_.store(met, std::memory_order_relaxed);
  }

 private:
  const unsigned flags_;
  std::atomic<bool> on_{false};
};

}  // namespace bilmod
#endif
