#include "sweep/run_slots.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

extern char** environ;

namespace bilmod {

namespace fs = std::filesystem;

std::string run_folder(const std::string& output_dir, const std::string& key) {
  return (fs::path(output_dir) / key).string();
}

std::string own_executable() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : self.string();
}

RunSlots::RunSlots(std::string executable, std::string output_dir, int capacity)
    : executable_(std::move(executable)), output_dir_(std::move(output_dir)), capacity_(capacity) {}

RunSlots::~RunSlots() {
  // Never leave workers behind: tell them to checkpoint and stop, then wait for them.
  forward_signal(SIGTERM);
  for (const Child& child : children_) {
    int status = 0;
    while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void RunSlots::launch(const RunSpec& spec) {
  const std::string dir = run_folder(output_dir_, spec.key);
  auto failed = [&](const std::string& why) {
    RunResult r;
    r.index = spec.index;
    r.key = spec.key;
    r.settings = spec.settings;
    r.message = "could not start: " + why;
    launch_failures_.push_back(std::move(r));
  };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return failed("cannot create " + dir + ": " + ec.message());
  if (Status s = write_json_file((fs::path(dir) / kRunFile).string(), to_json(spec)); !s) return failed(s.message());
  // A result left by an earlier failed attempt must not be mistaken for this attempt's.
  fs::remove(fs::path(dir) / kResultFile, ec);

  const std::string log_path = (fs::path(dir) / "output.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> args = {executable_, "sweep", "--run-dir", dir};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The worker starts with SIGINT and SIGTERM blocked, and unblocks them once its handlers are in place: a signal
  // forwarded while it is still starting up then waits for the handler instead of killing it mid-start.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  posix_spawnattr_setsigmask(&attributes, &stop_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, executable_.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return failed(executable_ + ": " + std::strerror(err));
  children_.push_back({pid, spec});
}

RunResult RunSlots::outcome(const RunSpec& spec, int wait_status) const {
  const std::string dir = run_folder(output_dir_, spec.key);
  RunResult r;
  nlohmann::json j;
  bool exists = false;
  const Status read = read_json_file((fs::path(dir) / kResultFile).string(), &j, &exists);
  if (read && run_result_from_json(j, &r)) return r;
  r.index = spec.index;
  r.key = spec.key;
  r.settings = spec.settings;
  r.status = RunStatus::kFailed;
  if (WIFSIGNALED(wait_status)) {
    r.message = std::string("worker killed by signal ") + strsignal(WTERMSIG(wait_status));
  } else {
    const int code = WEXITSTATUS(wait_status);
    if (code == 130 || code == 143) {
      r.status = RunStatus::kInterrupted;
      r.message = "interrupted (resumes from its checkpoint on the next run of the sweep)";
      return r;
    }
    r.message = "worker exited with code " + std::to_string(code);
  }
  // The worker's last line says why (its error line); it is the most useful thing to show.
  std::ifstream log((fs::path(dir) / "output.log").string());
  std::string line, last;
  while (std::getline(log, line))
    if (!line.empty()) last = line;
  if (!last.empty()) r.message += ": " + last;
  if (exists && !read) r.message += " (" + read.message() + ")";
  return r;
}

void RunSlots::reap(std::vector<RunResult>* finished) {
  for (RunResult& r : launch_failures_) finished->push_back(std::move(r));
  launch_failures_.clear();
  for (size_t i = 0; i < children_.size();) {
    int status = 0;
    const pid_t done = waitpid(children_[i].pid, &status, WNOHANG);
    if (done == children_[i].pid) {
      finished->push_back(outcome(children_[i].spec, status));
      children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

void RunSlots::forward_signal(int signal) {
  for (const Child& child : children_) kill(child.pid, signal);
}

}  // namespace bilmod
