#include "tracking/project_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bilmod {

Status ProjectLock::acquire(const std::string& lock_path) {
  release();
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::runtime("cannot open the tracking lock file " + lock_path + ": " + std::strerror(errno));
  int rc;
  do rc = ::flock(fd, LOCK_EX);
  while (rc != 0 && errno == EINTR);  // a signal (SIGINT asks training to stop) must not abandon a write
  if (rc != 0) {
    const int error = errno;
    ::close(fd);
    return Status::runtime("cannot lock " + lock_path + ": " + std::strerror(error));
  }
  fd_ = fd;
  return Status::ok();
}

void ProjectLock::release() {
  if (fd_ < 0) return;
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace bilmod
