// trackio's default run names: "{adjective}-{noun}-{n}", with n one more than the runs the project already has,
// drawn until the name is new in the project.
#pragma once
#include <set>
#include <string>

namespace bilmod {

std::string new_run_name(const std::set<std::string>& names_in_project);

}  // namespace bilmod
