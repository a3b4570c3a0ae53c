#include "sweep/dispatcher.h"

#include <chrono>
#include <deque>
#include <thread>

#include "train/stop_signal.h"
#include "util/bounded_json.h"
#include "util/log.h"

namespace bilmod {

namespace {

// How often an idle loop looks for ended workers and messages: short against any run, long enough to cost no CPU.
constexpr auto kPollInterval = std::chrono::milliseconds(20);

bool stop_signalled() { return g_stop_signal.load() != 0; }

}  // namespace

void dispatch_runs(const mpi::World& world, const std::vector<RunSpec>& runs, const std::vector<size_t>& pending,
                   RunSlots* slots, SweepProgress* progress, std::vector<RunResult>* results) {
  std::deque<size_t> queue(pending.begin(), pending.end());
  int remote_running = 0;
  int ranks_done = 0;
  std::vector<int> ran_by(static_cast<size_t>(world.size), 0);  // runs each rank ended, for the closing line
  bool forwarded = false;
  while (true) {
    bool busy = false;
    if (stop_signalled()) {
      queue.clear();
      if (!forwarded) slots->forward_signal(g_stop_signal.load());
      forwarded = true;
    }
    // The other ranks' requests and reports.
    int source = 0, tag = 0;
    std::string payload;
    while (world.size > 1 && mpi::try_receive(&source, &tag, &payload)) {
      busy = true;
      if (tag == mpi::kRequest) {
        long long index = -1;
        if (!queue.empty()) {
          index = static_cast<long long>(queue.front());
          queue.pop_front();
          ++remote_running;
        }
        mpi::send(source, mpi::kAssign, std::to_string(index));
      } else if (tag == mpi::kResult) {
        --remote_running;
        ++ran_by[static_cast<size_t>(source)];
        RunResult r;
        if (run_result_from_json(parse_json_bounded(payload, kTrackingJsonDepth), &r)) {
          progress->run_finished(r, slots->running() + remote_running);
          results->push_back(std::move(r));
        }
      } else if (tag == mpi::kDone) {
        ++ranks_done;
      }
    }
    while (slots->has_free_slot() && !queue.empty()) {
      slots->launch(runs[queue.front()]);
      queue.pop_front();
      busy = true;
    }
    std::vector<RunResult> ended;
    slots->reap(&ended);
    for (RunResult& r : ended) {
      ++ran_by[0];
      progress->run_finished(r, slots->running() + remote_running);
      results->push_back(std::move(r));
      busy = true;
    }
    progress->set_running(slots->running() + remote_running);
    if (queue.empty() && slots->running() == 0 && ranks_done == world.size - 1) break;
    if (!busy) std::this_thread::sleep_for(kPollInterval);
  }
  if (world.size > 1) {
    std::string line = "runs per rank:";
    for (size_t r = 0; r < ran_by.size(); ++r) line += " " + std::to_string(r) + ":" + std::to_string(ran_by[r]);
    log::info(line);
  }
}

void serve_runs(const std::vector<RunSpec>& runs, RunSlots* slots) {
  bool exhausted = false, forwarded = false;
  while (true) {
    bool busy = false;
    if (stop_signalled()) {
      exhausted = true;
      if (!forwarded) slots->forward_signal(g_stop_signal.load());
      forwarded = true;
    }
    if (!exhausted && slots->has_free_slot()) {
      mpi::send(0, mpi::kRequest, "");
      std::string answer;
      mpi::receive(0, mpi::kAssign, &answer);
      const long long index = std::stoll(answer);
      if (index < 0 || index >= static_cast<long long>(runs.size())) {
        exhausted = true;
      } else {
        slots->launch(runs[static_cast<size_t>(index)]);
      }
      busy = true;
    }
    std::vector<RunResult> ended;
    slots->reap(&ended);
    for (const RunResult& r : ended) {
      mpi::send(0, mpi::kResult, to_json(r).dump());
      busy = true;
    }
    if (exhausted && slots->running() == 0) {
      mpi::send(0, mpi::kDone, "");
      return;
    }
    if (!busy) std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace bilmod
