// A speed switch between two exact ways of computing the same thing: a plain float path, and a detour that avoids
// subnormal floats at a steady cost. Whether the detour pays depends on the processor: an Intel core takes a microcode
// assist for each operation that meets a subnormal (the plain path becomes 10-100x slower there), while a Zen 5 core
// takes them at full speed, where the detour only adds work (a grokked factored run's late epochs became 5.7x slower
// with it). So each switch measures both paths once per process, on subnormal operands, on the processor at hand
// (a millisecond at its first use), and watches only where the detour is the faster one.
//
// Watching: calls that do not watch ask the core afterwards whether they met a subnormal (MXCSR's sticky flags); the
// next call watches if so, and a watching call that finds nothing to detour stops. Both paths give the same bits, so
// the switch (relaxed) decides speed only. Each switch belongs to its user's state and is passed down to the kernel:
// AdamW's dense step has its Optimizer's (optim/adamw_fast.h make_adamw_watch: one per run), the backward's faded
// units the activations' of the batch (model/output_layer.h make_faded_units_watch); a kernel given none takes the
// plain path.
#pragma once
#include <atomic>
#include <mutex>

namespace bilmod {

// Which path runs. kMeasure (the default): as measured (above). kAlways / kNever: the detour wherever the flags call
// for it, or never; for tests, which check that both give the same bits. The environment's BILMOD_SUBNORMAL_DETOURS
// (measure, always, never), read once by the command line (cli/environment.cc), sets it at start.
enum class DetourPolicy { kMeasure, kAlways, kNever };
void set_detour_policy(DetourPolicy policy);
DetourPolicy detour_policy();

// The seconds the same work on subnormal operands took by each path: the fastest of several interleaved tries.
struct DetourTiming {
  double plain = 0.0, detour = 0.0;
};

}  // namespace bilmod

#if defined(__SSE__)
#include <immintrin.h>

namespace bilmod {

constexpr unsigned kMxcsrDenormalOperand = 0x02, kMxcsrUnderflow = 0x10;  // MXCSR's sticky DE and UE flags

// Times time_path(false) (the plain path) and time_path(true) (the detour), interleaved, each the fastest of 7 tries
// (other processes on the core only ever slow a try down).
DetourTiming measure_detour(double (*time_path)(bool detour));

class SubnormalWatch {
 public:
  // time_path(detour): seconds for a fixed piece of work on subnormal operands by the plain path or the detour.
  constexpr SubnormalWatch(unsigned flags, double (*time_path)(bool detour)) : flags_(flags), time_path_(time_path) {}
  // Whether the detour may run at all: the policy, or (kMeasure) the measurement, taken at the first call.
  bool detour_pays() {
    switch (detour_policy()) {
      case DetourPolicy::kAlways:
        return true;
      case DetourPolicy::kNever:
        return false;
      case DetourPolicy::kMeasure:
        break;
    }
    return timing().detour < timing().plain;
  }
  const DetourTiming& timing() {
    std::call_once(measured_, [this] { timing_ = measure_detour(time_path_); });
    return timing_;
  }
  bool watching() { return detour_pays() && on_.load(std::memory_order_relaxed); }
  // On each thread of a call that does not watch: before its work, and after it (whether the core met one).
  void clear_flags() const { _mm_setcsr(_mm_getcsr() & ~flags_); }
  bool flags_raised() const { return (_mm_getcsr() & flags_) != 0; }
  // After the call: met = (watching) something took the detour, (not watching) the flags were raised.
  void update(bool watched, bool met) {
    if (met != watched) on_.store(met, std::memory_order_relaxed);
  }

 private:
  const unsigned flags_;
  double (*const time_path_)(bool detour);
  std::once_flag measured_;
  DetourTiming timing_;
  std::atomic<bool> on_{false};
};

}  // namespace bilmod
#endif
