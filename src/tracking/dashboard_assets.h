// The dashboard's web page, script and style, compiled into the binary from web/dashboard/ at build time
// (cmake/embed_dashboard_assets.cmake), so the dashboard works offline and needs no installed files.
#pragma once
#include <string_view>

namespace bilmod {

struct DashboardAsset {
  std::string_view path;          // "/index.html", "/dashboard.js", ...
  std::string_view content_type;  // the HTTP Content-Type it is served with
  std::string_view body;
};

// The asset served at `path`, or nullptr: only these compiled-in files are ever served, never a file from disk.
const DashboardAsset* find_dashboard_asset(std::string_view path);

}  // namespace bilmod
