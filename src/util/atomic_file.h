// Writing a file so that a reader sees either the old file or the whole new one, never half of either.
#pragma once
#include <string>

#include "util/status.h"

namespace bilmod {

// Writes `bytes` to a temporary file in the same folder, fsyncs it, renames it over `path` and fsyncs the
// folder. On any failure the temporary file is removed and `path` is left as it was.
Status write_file_atomically(const std::string& path, const std::string& bytes);

// The same, for a file too large to hold in memory: open(), write() its bytes in pieces, commit(). A writer
// destroyed without a successful commit() removes its temporary file and leaves `path` as it was.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  Status open();
  Status write(const void* data, size_t size);
  Status commit();

 private:
  Status fail(const std::string& what);
  std::string path_, tmp_, dir_;
  int fd_ = -1;
};

// Whether a file can be created in `dir` (creating the folder if needed); a usage-time check before work starts.
// It also removes the temporary files that runs killed mid-write left there (remove_stale_temporaries).
Status check_writable_dir(const std::string& dir, const std::string& flag_name);

// Removes the temporary files that a process killed mid-write leaves in `dir` (".NAME.tmp.PID" of
// write_file_atomically, ".bilmod-write-probe.PID" of check_writable_dir) when process PID no longer exists;
// returns how many it removed.
int remove_stale_temporaries(const std::string& dir);

}  // namespace bilmod
