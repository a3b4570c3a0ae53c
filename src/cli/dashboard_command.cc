// bilmod dashboard: serves the live web view of the tracking folder until Ctrl-C.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "tracking/dashboard_server.h"
#include "tracking/tracking_folder.h"

namespace bilmod {

namespace {

struct DashboardOptions {
  std::string tracking_dir;
  std::string host = "127.0.0.1";
  int port = 7860;
};

std::atomic<int> g_dashboard_stop{0};
void handle_dashboard_stop(int signal) { g_dashboard_stop.store(signal); }

int run_dashboard(const DashboardOptions& o) {
  if (o.port < 0 || o.port > 65535)
    return report_failure(
        "dashboard", Status::usage("--port must lie in 0..65535 (0: any free port), got " + std::to_string(o.port)));
  DashboardSettings settings;
  settings.tracking_dir = resolve_tracking_dir(o.tracking_dir);
  settings.host = o.host;
  settings.port = o.port;
  DashboardServer server;
  std::signal(SIGINT, handle_dashboard_stop);
  std::signal(SIGTERM, handle_dashboard_stop);
  if (Status s = server.start(settings); !s) return report_failure("dashboard", s);
  // On stdout, one line, so a script (or a test) started with --port 0 can read where to connect.
  std::printf("bilmod dashboard: serving %s on %s (Ctrl-C stops)\n", settings.tracking_dir.c_str(),
              server.url().c_str());
  std::fflush(stdout);
  while (g_dashboard_stop.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.stop();
  return 0;
}

}  // namespace

CommandRunner setup_dashboard_command(CLI::App* cmd) {
  auto o = std::make_shared<DashboardOptions>();
  cmd->add_option("--tracking-dir", o->tracking_dir, kTrackingDirHelp);
  cmd->add_option("--host", o->host, "Address to listen on (127.0.0.1: this machine only)");
  cmd->add_option("--port", o->port, "Port (0: any free port)");
  return [o]() { return run_dashboard(*o); };
}

}  // namespace bilmod
