#include "tracking/dashboard_server.h"

#include <thread>

#include "tracking/dashboard_api.h"
#include "tracking/dashboard_assets.h"

#ifdef BILMOD_HAVE_HTTPLIB
#include <httplib.h>
#endif

namespace bilmod {

#ifdef BILMOD_HAVE_HTTPLIB

struct DashboardServer::Impl {
  DashboardSettings settings;
  httplib::Server server;
  std::thread thread;
  int port = 0;
};

namespace {

void send_json(httplib::Response& response, const nlohmann::json& body) {
  // The page polls: a cached answer would freeze the curves.
  response.set_header("Cache-Control", "no-store");
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& response, int http_status, const std::string& message) {
  response.status = http_status;
  send_json(response, {{"error", message}});
}

}  // namespace

DashboardServer::DashboardServer() : impl_(std::make_unique<Impl>()) {}
DashboardServer::~DashboardServer() { stop(); }

Status DashboardServer::start(const DashboardSettings& settings) {
  impl_->settings = settings;
  httplib::Server& server = impl_->server;
  const std::string dir = settings.tracking_dir;
  server.Get("/", [](const httplib::Request&, httplib::Response& response) {
    const DashboardAsset* page = find_dashboard_asset("/index.html");
    response.set_content(std::string(page->body), std::string(page->content_type));
  });
  server.Get("/api/projects", [dir](const httplib::Request&, httplib::Response& response) {
    send_json(response, {{"tracking_dir", dir}, {"projects", dashboard_projects(dir)}});
  });
  server.Get("/api/runs", [dir](const httplib::Request& request, httplib::Response& response) {
    nlohmann::json runs;
    if (Status s = dashboard_runs(dir, request.get_param_value("project"), &runs); !s)
      return send_error(response, s.code() == ExitCode::kUsage ? 400 : 404, s.message());
    send_json(response, {{"project", request.get_param_value("project")}, {"runs", runs}});
  });
  server.Get("/api/metrics", [dir](const httplib::Request& request, httplib::Response& response) {
    int64_t after = 0;
    const std::string after_text = request.get_param_value("after");
    if (!after_text.empty()) {
      char* end = nullptr;
      after = std::strtoll(after_text.c_str(), &end, 10);
      if (*end != '\0' || after < 0) return send_error(response, 400, "after must be a row id >= 0");
    }
    nlohmann::json metrics;
    if (Status s =
            dashboard_metrics(dir, request.get_param_value("project"), request.get_param_value("run"), after, &metrics);
        !s)
      return send_error(response, s.code() == ExitCode::kUsage ? 400 : 404, s.message());
    send_json(response, metrics);
  });
  // Everything else: one of the compiled-in assets by exact name, or 404. Nothing is ever read from disk.
  server.Get(R"(/[A-Za-z0-9_.\-]+)", [](const httplib::Request& request, httplib::Response& response) {
    const DashboardAsset* asset = find_dashboard_asset(request.path);
    if (!asset) return send_error(response, 404, "no such page: " + request.path);
    response.set_content(std::string(asset->body), std::string(asset->content_type));
  });
  // Only GET is served: the dashboard is read-only.
  server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.body.empty()) send_json(response, {{"error", "HTTP " + std::to_string(response.status)}});
  });

  if (settings.port == 0) {
    impl_->port = server.bind_to_any_port(settings.host.c_str());
    if (impl_->port <= 0) return Status::runtime("dashboard cannot bind to " + settings.host + " on any port");
  } else {
    if (!server.bind_to_port(settings.host.c_str(), settings.port))
      return Status::runtime("dashboard cannot listen on " + settings.host + ":" + std::to_string(settings.port) +
                             " (in use? another dashboard may already serve it; choose another with --port)");
    impl_->port = settings.port;
  }
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  return Status::ok();
}

int DashboardServer::port() const { return impl_->port; }

std::string DashboardServer::url() const {
  const std::string host = impl_->settings.host == "0.0.0.0" ? "127.0.0.1" : impl_->settings.host;
  return "http://" + host + ":" + std::to_string(impl_->port) + "/";
}

void DashboardServer::wait() {
  if (impl_->thread.joinable()) impl_->thread.join();
}

void DashboardServer::stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

#else  // built without cpp-httplib

struct DashboardServer::Impl {};
DashboardServer::DashboardServer() : impl_(std::make_unique<Impl>()) {}
DashboardServer::~DashboardServer() = default;
Status DashboardServer::start(const DashboardSettings&) {
  return Status::runtime(
      "this bilmod was built without cpp-httplib, so it has no dashboard: install Debian's "
      "libcpp-httplib-dev and rebuild");
}
int DashboardServer::port() const { return 0; }
std::string DashboardServer::url() const { return ""; }
void DashboardServer::wait() {}
void DashboardServer::stop() {}

#endif

}  // namespace bilmod
