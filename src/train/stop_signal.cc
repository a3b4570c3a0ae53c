#include "train/stop_signal.h"

#include <csignal>

namespace bilmod {

std::atomic<int> g_stop_signal{0};

namespace {
void handle_stop_signal(int signal) { g_stop_signal.store(signal); }
}  // namespace

void install_stop_signals() {
  std::signal(SIGINT, handle_stop_signal);
  std::signal(SIGTERM, handle_stop_signal);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &stop_signals, nullptr);
}

std::string stop_signal_name(int signal) { return signal == SIGTERM ? "SIGTERM" : "SIGINT"; }

}  // namespace bilmod
