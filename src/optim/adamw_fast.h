// The fast AdamW path: vector lanes (adamw_lanes.h) over rows or chunks, k zero-gradient steps replayed in registers
// for lazy rows (lazy_rows.h), and the subnormal detour (adamw_detour.h) where it pays on this processor. Every
// function gives torch_formula.h's bits (tests/unit/optimizer_paths_test.cc).
#pragma once
#include <cstdint>
#include <memory>

#include "optim/adamw_scalars.h"

namespace bilmod {

class SubnormalWatch;  // util/subnormal_watch.h

// The switch of the dense step's subnormal detour, for its owner (an Optimizer: one per run) to hold and pass down;
// measured at its first use. Null where the build has no detour.
std::shared_ptr<SubnormalWatch> make_adamw_watch();

// The dense step over [0, count): chunks of 4096 elements, split across threads; with `watch`, watches for vectors
// with subnormal state where the detour pays (util/subnormal_watch.h); without, the plain float step.
void adamw_fast_range(const AdamWConstants& c, const AdamWStepScalars& s, float* p, const float* g, float* m, float* v,
                      int64_t count, SubnormalWatch* watch = nullptr);
// One step on one row of `width` elements; g == nullptr: a zero gradient.
void adamw_fast_row(const AdamWConstants& c, const AdamWStepScalars& s, float* p, const float* g, float* m, float* v,
                    int64_t width);
// k zero-gradient steps with scalars[0..k) on one row.
void adamw_replay_row(const AdamWConstants& c, const AdamWStepScalars* scalars, int64_t k, float* p, float* m, float* v,
                      int64_t width);

}  // namespace bilmod
