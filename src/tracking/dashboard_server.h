// `bilmod dashboard` (and `bilmod train --dashboard`): a small local web server over the tracking folder.
// It serves the compiled-in page (web/dashboard/) and the read-only JSON of dashboard_api.h; the page polls it,
// so the curves grow while runs train.
#pragma once
#include <memory>
#include <string>

#include "util/status.h"

namespace bilmod {

struct DashboardSettings {
  std::string tracking_dir;        // already resolved
  std::string host = "127.0.0.1";  // loopback unless asked otherwise: the store is the user's, not the network's
  int port = 7860;                 // trackio's port; 0 picks a free one
};

class DashboardServer {
 public:
  DashboardServer();
  ~DashboardServer();  // stops
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // Binds (a runtime Status naming host:port if it cannot) and serves from a background thread.
  Status start(const DashboardSettings& settings);
  int port() const;
  std::string url() const;
  // Blocks until stop() (from another thread or a signal handler's flag watcher).
  void wait();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bilmod
