#include "optim/lazy_rows.h"

#include <algorithm>

#include "optim/adamw_fast.h"

namespace bilmod {

namespace {
// Rows are split across threads once there is this much work: each row's arithmetic is the same either way.
constexpr int64_t kParallelElements = 1 << 13;
// The table of step scalars stays bounded (16 K steps, 256 KiB) however rarely the caller syncs.
constexpr size_t kMaxPendingSteps = size_t{1} << 14;
}  // namespace

LazyRows make_lazy_rows(const SparseRows& block, int64_t step) {
  LazyRows lazy;
  lazy.block = block;
  lazy.synced_step = step;
  lazy.row_step.assign(static_cast<size_t>(block.rows), step);
  return lazy;
}

void lazy_zero_grad(LazyRows* lazy, float* grads, size_t n) {
  const SparseRows& b = lazy->block;
  const size_t block_end = b.offset + static_cast<size_t>(b.rows * b.width);
  std::fill(grads, grads + b.offset, 0.0f);
  std::fill(grads + block_end, grads + n, 0.0f);
  for (const int64_t r : lazy->written) {
    float* row = grads + b.offset + r * b.width;
    std::fill(row, row + b.width, 0.0f);
  }
  lazy->written.clear();
}

void lazy_sync(const AdamWConstants& c, float* params, float* m, float* v, int64_t step, LazyRows* lazy) {
  if (lazy->synced_step == step) return;
  const SparseRows& b = lazy->block;
  const int64_t width = b.width;
  float* p = params + b.offset;
  m += b.offset;
  v += b.offset;
#pragma omp parallel for schedule(static) if (b.rows * width > 4 * kParallelElements)
  for (int64_t r = 0; r < b.rows; ++r) {
    const int64_t from = lazy->row_step[r];
    adamw_replay_row(c, lazy->scalars.data() + (from - lazy->synced_step), step - from, p + r * width, m + r * width,
                     v + r * width, width);
    lazy->row_step[r] = step;
  }
  lazy->scalars.clear();
  lazy->synced_step = step;
}

void lazy_prepare_rows(const AdamWConstants& c, float* params, float* m, float* v, int64_t step, LazyRows* lazy,
                       const int64_t* rows, int64_t count) {
  lazy->touched.insert(lazy->touched.end(), rows, rows + count);
  if (lazy->synced_step == step) return;
  // Each row once (marking it current as it is listed), then the replays, split across threads by row.
  std::vector<int64_t>& behind = lazy->scratch;
  behind.clear();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t r = rows[i];
    if (lazy->row_step[r] == step) continue;
    behind.push_back(r);
    behind.push_back(lazy->row_step[r]);
    lazy->row_step[r] = step;
  }
  const int64_t n_behind = static_cast<int64_t>(behind.size() / 2), width = lazy->block.width;
#pragma omp parallel for schedule(static) if (n_behind * width > kParallelElements)
  for (int64_t i = 0; i < n_behind; ++i) {
    const size_t at = lazy->block.offset + static_cast<size_t>(behind[2 * i] * width);
    const int64_t from = behind[2 * i + 1];
    adamw_replay_row(c, lazy->scalars.data() + (from - lazy->synced_step), step - from, params + at, m + at, v + at,
                     width);
  }
}

void lazy_step(const AdamWConstants& c, const AdamWStepScalars& s, int64_t t, float* params, const float* grads,
               float* m, float* v, size_t n, LazyRows* lazy, SubnormalWatch* watch) {
  if (lazy->scalars.size() >= kMaxPendingSteps) lazy_sync(c, params, m, v, t - 1, lazy);
  lazy->scalars.push_back(s);
  const SparseRows& b = lazy->block;
  // Dense parameters: everything before and after the block.
  const size_t block_end = b.offset + static_cast<size_t>(b.rows * b.width);
  adamw_fast_range(c, s, params, grads, m, v, static_cast<int64_t>(b.offset), watch);
  adamw_fast_range(c, s, params + block_end, grads + block_end, m + block_end, v + block_end,
                   static_cast<int64_t>(n - block_end), watch);
  // Touched rows, each once: catch up on any steps missed, then this step with its gradient.
  std::vector<int64_t>& rows = lazy->written;
  std::vector<int64_t>& from_step = lazy->scratch;
  const size_t first_new = rows.size();
  from_step.clear();
  for (const int64_t r : lazy->touched) {
    if (lazy->row_step[r] == t) continue;
    rows.push_back(r);
    from_step.push_back(lazy->row_step[r]);
    lazy->row_step[r] = t;
  }
  lazy->touched.clear();
  const int64_t width = b.width, n_rows = static_cast<int64_t>(rows.size() - first_new);
#pragma omp parallel for schedule(static) if (n_rows * width > kParallelElements)
  for (int64_t i = 0; i < n_rows; ++i) {
    const size_t at = b.offset + static_cast<size_t>(rows[first_new + i] * width);
    const int64_t from = from_step[i];
    adamw_replay_row(c, lazy->scalars.data() + (from - lazy->synced_step), t - 1 - from, params + at, m + at, v + at,
                     width);
    adamw_fast_row(c, s, params + at, grads + at, m + at, v + at, width);
  }
}

}  // namespace bilmod
