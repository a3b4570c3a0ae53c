// SIGINT and SIGTERM ask a run to stop: the training loop sees them at the next step boundary and writes a checkpoint.
#pragma once
#include <atomic>
#include <string>

namespace bilmod {

// The last stop signal received (SIGINT or SIGTERM), 0 while none has come.
extern std::atomic<int> g_stop_signal;

// From here on SIGINT and SIGTERM set g_stop_signal; one that a parent blocked (a sweep starts its workers so) and
// that arrived meanwhile is delivered now.
void install_stop_signals();

// "SIGTERM" or "SIGINT".
std::string stop_signal_name(int signal);

}  // namespace bilmod
