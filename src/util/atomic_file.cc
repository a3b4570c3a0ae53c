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

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  const fs::path target(path_);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  dir_ = dir.string();
  tmp_ = (dir / ("." + target.filename().string() + ".tmp." + std::to_string(getpid()))).string();
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

Status AtomicFileWriter::open() {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return Status::runtime("cannot create " + tmp_ + ": " + std::strerror(errno));
  return Status::ok();
}

Status AtomicFileWriter::fail(const std::string& what) {
  const int saved = errno;
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  return Status::runtime("cannot write " + path_ + ": " + what + " failed: " + std::strerror(saved) +
                         " (the previous file, if any, is untouched)");
}

Status AtomicFileWriter::write(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd_, bytes + written, size - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    written += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0) return fail("fsync");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp_.c_str());
    return Status::runtime("cannot write " + path_ + ": close failed: " + std::strerror(saved));
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp_.c_str());
    return Status::runtime("cannot rename " + tmp_ + " to " + path_ + ": " + std::strerror(saved));
  }
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);  // make the rename itself durable
    ::close(dir_fd);
  }
  return Status::ok();
}

Status write_file_atomically(const std::string& path, const std::string& bytes) {
  AtomicFileWriter writer(path);
  BILMOD_TRY(writer.open());
  BILMOD_TRY(writer.write(bytes.data(), bytes.size()));
  return writer.commit();
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
    const bool ours =
        name.rfind(".bilmod-write-probe.", 0) == 0 || (name[0] == '.' && name.find(".tmp.") != std::string::npos);
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
