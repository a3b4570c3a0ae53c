#include "tracking/tracking_folder.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace bilmod {

namespace fs = std::filesystem;

namespace {
std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}
}  // namespace

std::string resolve_tracking_dir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (std::string dir = env("TRACKIO_DIR"); !dir.empty()) return dir;
  if (std::string hf_home = env("HF_HOME"); !hf_home.empty()) return (fs::path(hf_home) / "trackio").string();
  // huggingface_hub's default HF_HOME is $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty())
    return (fs::path(xdg) / "huggingface" / "trackio").string();
  return (fs::path(env("HOME")) / ".cache" / "huggingface" / "trackio").string();
}

bool is_valid_project_name(const std::string& project) {
  if (project.empty() || project.size() > 200) return false;
  return std::all_of(project.begin(), project.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

Status check_project_name(const std::string& project, const std::string& flag_name) {
  if (is_valid_project_name(project)) return Status::ok();
  return Status::usage(flag_name + " '" + project + "' is not a project name: use letters, digits, '_' and '-' only");
}

std::string project_db_path(const std::string& tracking_dir, const std::string& project) {
  return (fs::path(tracking_dir) / (project + ".db")).string();
}

std::string project_lock_path(const std::string& tracking_dir, const std::string& project) {
  return (fs::path(tracking_dir) / (project + ".lock")).string();
}

std::vector<std::string> list_projects(const std::string& tracking_dir) {
  std::vector<std::string> projects;
  std::error_code ec;
  for (fs::directory_iterator it(tracking_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& path = it->path();
    if (path.extension() != ".db" || !it->is_regular_file(ec)) continue;
    const std::string name = path.stem().string();
    if (is_valid_project_name(name)) projects.push_back(name);
  }
  std::sort(projects.begin(), projects.end());
  return projects;
}

}  // namespace bilmod
