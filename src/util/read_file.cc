#include "util/read_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace bilmod {

namespace {

template <typename Buffer>
Status read_whole_file(const std::string& path, const std::string& what, Buffer* out) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::runtime(path + ": is a folder, not a " + what);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::runtime(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  out->clear();
  try {
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec) out->reserve(static_cast<size_t>(size));
    // libstdc++ throws from the stream buffer on a read error (EISDIR, EIO) even without exceptions() set.
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    return Status::runtime(path + ": read failed (" + e.what() + ")");
  }
  if (in.bad()) return Status::runtime(path + ": read failed");
  return Status::ok();
}

}  // namespace

Status read_file_bytes(const std::string& path, const std::string& what, std::vector<uint8_t>* out) {
  return read_whole_file(path, what, out);
}

Status read_file_text(const std::string& path, const std::string& what, std::string* out) {
  return read_whole_file(path, what, out);
}

}  // namespace bilmod
