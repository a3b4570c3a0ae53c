#include "util/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace bilmod {

namespace fs = std::filesystem;

Status write_file_atomically(const std::string& path, const std::string& bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string tmp = (dir / ("." + target.filename().string() + ".tmp." + std::to_string(getpid()))).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::runtime("cannot create " + tmp + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const int saved = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::runtime("cannot write " + path + ": " + what + " failed: " + std::strerror(saved) +
                           " (the previous file, if any, is untouched)");
  };
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return Status::runtime("cannot write " + path + ": close failed: " + std::strerror(saved));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return Status::runtime("cannot rename " + tmp + " to " + path + ": " + std::strerror(saved));
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);  // make the rename itself durable
    ::close(dir_fd);
  }
  return Status::ok();
}

Status check_writable_dir(const std::string& dir, const std::string& flag_name) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    return Status::runtime(flag_name + " " + dir + " exists and is not a folder: name a folder");
  fs::create_directories(dir, ec);
  if (ec) return Status::runtime(flag_name + " " + dir + " cannot be created: " + ec.message());
  const std::string probe = (fs::path(dir) / (".bilmod-write-probe." + std::to_string(getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::runtime(flag_name + " " + dir + " is not writable: " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  remove_stale_temporaries(dir);
  return Status::ok();
}

int remove_stale_temporaries(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t dot = name.rfind('.');
    const bool ours = name.rfind(".bilmod-write-probe.", 0) == 0 || (name[0] == '.' && name.find(".tmp.") != std::string::npos);
    if (!ours || dot == std::string::npos || dot + 1 == name.size() ||
        name.find_first_not_of("0123456789", dot + 1) != std::string::npos || !entry.is_regular_file(ec))
      continue;
    const long pid = std::strtol(name.c_str() + dot + 1, nullptr, 10);
    if (pid <= 0 || pid == getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace bilmod
