// Where trackio keeps its projects (docs/FORMATS.md, "Tracking store"): one SQLite file per project in one folder,
// found the way trackio finds it, so bilmod and trackio read and write the same files.
#pragma once
#include <string>
#include <vector>

#include "util/status.h"

namespace bilmod {

// --tracking-dir if given, else $TRACKIO_DIR, else $HF_HOME/trackio, else $XDG_CACHE_HOME/huggingface/trackio, else
// ~/.cache/huggingface/trackio (trackio finds its folder through huggingface_hub, whose HF_HOME defaults that way).
std::string resolve_tracking_dir(const std::string& flag_value);
// The --tracking-dir help of every command that takes it.
inline constexpr const char* kTrackingDirHelp =
    "Tracking folder (default: $TRACKIO_DIR, $HF_HOME/trackio, $XDG_CACHE_HOME/huggingface/trackio, "
    "~/.cache/huggingface/trackio)";

// Project names are restricted to [A-Za-z0-9_-]: a name is a file name, and so can never reach outside the folder.
bool is_valid_project_name(const std::string& project);
Status check_project_name(const std::string& project, const std::string& flag_name);

std::string project_db_path(const std::string& tracking_dir, const std::string& project);    // {dir}/{project}.db
std::string project_lock_path(const std::string& tracking_dir, const std::string& project);  // {dir}/{project}.lock

// The projects in the folder (every {name}.db with a valid name), sorted; empty if the folder does not exist.
std::vector<std::string> list_projects(const std::string& tracking_dir);

}  // namespace bilmod
