// Hands out a sweep's runs dynamically, so fast runs never wait for slow ones.
// One process (no MPI): the pending runs go to the local slots as they free up.
// Under MPI: rank 0 keeps the queue; it fills its own slots and answers the other ranks, each of which asks for
// one run whenever it has a free slot (kRequest -> kAssign with a run index, or -1 when the queue is empty),
// reports each ended run's result (kResult, the result JSON) and says when it has nothing left (kDone). Rank 0
// therefore ends up with every result without reading another node's files.
#pragma once
#include <vector>

#include "sweep/mpi_link.h"
#include "sweep/run_record.h"
#include "sweep/run_slots.h"
#include "sweep/sweep_progress.h"

namespace bilmod {

// Rank 0 (or the only process): runs runs[i] for every i in `pending`, returns their results in `results`.
// After SIGINT/SIGTERM (trainer.h's g_stop_signal) it hands out nothing more, passes the signal to the
// workers and waits for them to checkpoint.
void dispatch_runs(const mpi::World& world, const std::vector<RunSpec>& runs, const std::vector<size_t>& pending,
                   RunSlots* slots, SweepProgress* progress, std::vector<RunResult>* results);

// Ranks 1..K-1: ask rank 0 for runs until it has none, run them in the local slots, report each result.
void serve_runs(const std::vector<RunSpec>& runs, RunSlots* slots);

}  // namespace bilmod
