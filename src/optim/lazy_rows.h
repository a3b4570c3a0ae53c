// Lazy AdamW over a block of rows that each step touches sparsely (optimizer.h's SparseRows): a row is brought up to
// date when next read, by replaying its zero-gradient steps, the same bits as the dense update (docs/NUMERICS.md
// "Lazy AdamW rows"), so a step streams only its batch's rows instead of all P*P of them.
//
// Rows are current through row_step[r]; every row is current through synced_step; scalars holds the step scalars
// since synced_step, for the replays.
#pragma once
#include <cstdint>
#include <vector>

#include "optim/adamw_scalars.h"

namespace bilmod {
class SubnormalWatch;  // util/subnormal_watch.h
}  // namespace bilmod

namespace bilmod {

struct LazyRows {
  SparseRows block;
  int64_t synced_step = 0;
  std::vector<int64_t> row_step;          // (rows,)
  std::vector<AdamWStepScalars> scalars;  // entry i: step synced_step + 1 + i
  std::vector<int64_t> touched;           // rows prepared for the coming step (duplicates allowed)
  std::vector<int64_t> written;           // rows whose gradient the last step read (to clear)
  std::vector<int64_t> scratch;           // (row, step it is current through) pairs of rows being brought up
};

LazyRows make_lazy_rows(const SparseRows& block, int64_t step);
// Zeroes the gradient buffer: everything outside the block, and the block rows the last step read.
void lazy_zero_grad(LazyRows* lazy, float* grads, size_t n);
// Brings rows[0..count) up to `step` and records them as touched by the coming step.
void lazy_prepare_rows(const AdamWConstants& c, float* params, float* m, float* v, int64_t step, LazyRows* lazy,
                       const int64_t* rows, int64_t count);
// Step t: the dense step outside the block, the touched rows (caught up first) with their gradients.
void lazy_step(const AdamWConstants& c, const AdamWStepScalars& s, int64_t t, float* params, const float* grads,
               float* m, float* v, size_t n, LazyRows* lazy, SubnormalWatch* watch = nullptr);
// Brings every row up to `step`.
void lazy_sync(const AdamWConstants& c, float* params, float* m, float* v, int64_t step, LazyRows* lazy);

}  // namespace bilmod
