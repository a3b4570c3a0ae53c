// The writers' lock of one project (docs/FORMATS.md): an exclusive flock on {project}.lock beside the database,
// held for the length of one write transaction. It serialises bilmod writers (and trackio's) before SQLite's
// own locking is reached, so a sweep of processes writing one project queues instead of failing with
// "database is locked".
#pragma once
#include <string>

#include "util/status.h"

namespace bilmod {

class ProjectLock {
 public:
  ProjectLock() = default;
  ~ProjectLock() { release(); }
  ProjectLock(const ProjectLock&) = delete;
  ProjectLock& operator=(const ProjectLock&) = delete;

  // Blocks until the lock is ours (creating the lock file if needed).
  Status acquire(const std::string& lock_path);
  void release();

 private:
  int fd_ = -1;
};

}  // namespace bilmod
