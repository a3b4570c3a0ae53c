// Reading a whole file into memory, with the failures a user can meet (a folder, no permission, an I/O error) as
// one line each. The buffer is sized from the file first, so a large checkpoint is held once, not in a vector
// doubling as it grows.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace bilmod {

// `what` names the expected kind of file in the folder error ("checkpoint file": "x: is a folder, not a checkpoint
// file"). Runtime errors.
Status read_file_bytes(const std::string& path, const std::string& what, std::vector<uint8_t>* out);
// The same, for a text file (JSON, TOML).
Status read_file_text(const std::string& path, const std::string& what, std::string* out);

}  // namespace bilmod
