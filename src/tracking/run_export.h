// `bilmod runs export`: a run's rows merged to one record per step (the per-step train/batch_loss and that
// step's evaluation, when there is one, side by side), as CSV for a spreadsheet or JSON lines for pandas.
#pragma once
#include <string>
#include <vector>

#include "tracking/trackio_store.h"

namespace bilmod {

// CSV: a header "step,timestamp,<every metric key, sorted>", one line per step in step order; a metric a step
// lacks is an empty cell; numbers in round-trip precision; NaN, inf, -inf as pandas reads them.
std::string export_csv(const std::vector<StoredRow>& rows);
// JSON lines: {"step": s, "timestamp": t, <metrics>} per step; non-finite numbers as trackio spells them.
std::string export_jsonl(const std::vector<StoredRow>& rows);

}  // namespace bilmod
