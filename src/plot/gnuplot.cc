#include "plot/gnuplot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

extern char** environ;

namespace bilmod {

namespace fs = std::filesystem;

Status find_gnuplot(std::string* path) {
  const char* override_path = std::getenv("BILMOD_GNUPLOT");
  if (override_path && *override_path) {
    if (::access(override_path, X_OK) == 0) {
      *path = override_path;
      return Status::ok();
    }
    return Status::runtime(std::string("BILMOD_GNUPLOT=") + override_path + " is not an executable file");
  }
  const char* env_path = std::getenv("PATH");
  std::stringstream dirs(env_path ? env_path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (fs::path(dir.empty() ? "." : dir) / "gnuplot").string();
    if (::access(candidate.c_str(), X_OK) == 0) {
      *path = candidate;
      return Status::ok();
    }
  }
  return Status::runtime("gnuplot is not installed (not found on PATH); figures need it: apt-get install gnuplot-nox");
}

namespace {
struct Running {
  GnuplotJob job;
  std::string log_path;  // gnuplot's stderr
};

std::string first_lines(const std::string& path, int max_lines) {
  std::ifstream in(path);
  std::string line, out;
  for (int i = 0; i < max_lines && std::getline(in, line); ++i) out += (out.empty() ? "" : " | ") + line;
  return out;
}

Status spawn(const std::string& gnuplot, const GnuplotJob& job, pid_t* pid, std::string* log_path) {
  char log_template[] = "/tmp/bilmod-gnuplot-XXXXXX";
  const int log_fd = ::mkstemp(log_template);
  if (log_fd < 0)
    return Status::runtime(std::string("cannot create a temporary file for gnuplot's messages: ") +
                           std::strerror(errno));
  *log_path = log_template;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
  posix_spawn_file_actions_addclose(&actions, log_fd);
  posix_spawn_file_actions_addchdir_np(&actions, job.dir.c_str());
  std::string arg0 = "gnuplot", arg1 = job.script;
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  const int rc = ::posix_spawn(pid, gnuplot.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(log_fd);
  if (rc != 0) {
    ::unlink(log_path->c_str());
    return Status::runtime("cannot start " + gnuplot + ": " + std::strerror(rc));
  }
  return Status::ok();
}
}  // namespace

Status run_gnuplot(const std::vector<GnuplotJob>& jobs, int parallel) {
  std::string gnuplot;
  BILMOD_TRY(find_gnuplot(&gnuplot));
  std::map<pid_t, Running> running;
  Status first_failure;
  size_t next = 0;
  while (next < jobs.size() || !running.empty()) {
    while (next < jobs.size() && static_cast<int>(running.size()) < std::max(parallel, 1) && first_failure.is_ok()) {
      pid_t pid = 0;
      Running r{jobs[next], ""};
      if (Status s = spawn(gnuplot, jobs[next], &pid, &r.log_path); !s) {
        first_failure = s;
        break;
      }
      running.emplace(pid, std::move(r));
      ++next;
    }
    if (running.empty()) break;
    int status = 0;
    // Wait for one of ours by its id: a library must not reap children it did not start.
    pid_t pid = ::waitpid(running.begin()->first, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return Status::runtime(std::string("waiting for gnuplot failed: ") + std::strerror(errno));
    }
    auto it = running.find(pid);
    const Running& r = it->second;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && first_failure.is_ok()) {
      const std::string messages = first_lines(r.log_path, 4);
      first_failure = Status::runtime("gnuplot failed on " + (fs::path(r.job.dir) / r.job.script).string() +
                                      (messages.empty() ? std::string("") : ": " + messages));
    }
    ::unlink(r.log_path.c_str());
    running.erase(it);
    if (!first_failure.is_ok()) next = jobs.size();  // start nothing more; wait for the rest
  }
  return first_failure;
}

}  // namespace bilmod
