// The safetensors container (docs/FORMATS.md): 8-byte little-endian header length N, N bytes of JSON mapping each
// tensor name to {dtype, shape, data_offsets}, optional "__metadata__" of strings, then the data buffer.
// Reading accepts exactly what the reference loader accepts: offsets consistent with dtype x shape, tensors
// contiguous, in order of offset, without gaps or overlaps, covering the whole buffer.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace bilmod {

enum class DType { kF32, kF64, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };
size_t dtype_size(DType dtype);
std::string dtype_name(DType dtype);

struct SafeTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // row-major, little-endian
  size_t numel() const;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, SafeTensor> tensors;  // by name

  void put_f32(const std::string& name, std::vector<int64_t> shape, const float* values);
  void put_i64(const std::string& name, std::vector<int64_t> shape, const int64_t* values);
  // The tensor's values, or a runtime Status if it is missing or of another dtype or shape.
  Status get_f32(const std::string& name, const std::vector<int64_t>& shape, std::vector<float>* out) const;
  Status get_i64(const std::string& name, std::vector<int64_t>* out) const;  // any 1-D length
};

// Bytes of the whole file: tensors laid out in name order, header padded with spaces to 8 bytes.
std::string serialize_safetensors(const SafetensorsFile& file);
// The first bytes of that file (header length and header) when the tensors named in `streamed_bytes` hold no
// bytes in `file` but that many are written in their place, in name order, by a writer that streams them.
std::string safetensors_header(const SafetensorsFile& file, const std::map<std::string, uint64_t>& streamed_bytes);
// Parses a whole file held in memory; `origin` names it in error messages.
Status parse_safetensors(const uint8_t* data, size_t size, const std::string& origin, SafetensorsFile* out);
Status read_safetensors(const std::string& path, SafetensorsFile* out);

}  // namespace bilmod
