#include "checkpoint/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include <nlohmann/json.hpp>

#include "util/read_file.h"

namespace bilmod {

namespace {
struct DTypeName {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeName kDTypes[] = {{DType::kF32, "F32", 4},   {DType::kF64, "F64", 8}, {DType::kF16, "F16", 2},
                                 {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
                                 {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
                                 {DType::kBool, "BOOL", 1}};
// The reference implementation refuses headers above 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
}  // namespace

size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

std::string dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

size_t SafeTensor::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

void SafetensorsFile::put_f32(const std::string& name, std::vector<int64_t> shape, const float* values) {
  SafeTensor t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.bytes.resize(t.numel() * 4);
  std::memcpy(t.bytes.data(), values, t.bytes.size());  // x86-64 and aarch64 are little-endian
  tensors[name] = std::move(t);
}

void SafetensorsFile::put_i64(const std::string& name, std::vector<int64_t> shape, const int64_t* values) {
  SafeTensor t;
  t.dtype = DType::kI64;
  t.shape = std::move(shape);
  t.bytes.resize(t.numel() * 8);
  std::memcpy(t.bytes.data(), values, t.bytes.size());
  tensors[name] = std::move(t);
}

Status SafetensorsFile::get_f32(const std::string& name, const std::vector<int64_t>& shape,
                                std::vector<float>* out) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) return Status::runtime("tensor '" + name + "' is missing");
  if (it->second.dtype != DType::kF32)
    return Status::runtime("tensor '" + name + "' has dtype " + dtype_name(it->second.dtype) + ", expected F32");
  if (it->second.shape != shape)
    return Status::runtime("tensor '" + name + "' has shape " + shape_string(it->second.shape) + ", expected " +
                           shape_string(shape));
  out->resize(it->second.numel());
  std::memcpy(out->data(), it->second.bytes.data(), it->second.bytes.size());
  return Status::ok();
}

Status SafetensorsFile::get_i64(const std::string& name, std::vector<int64_t>* out) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) return Status::runtime("tensor '" + name + "' is missing");
  if (it->second.dtype != DType::kI64 || it->second.shape.size() != 1)
    return Status::runtime("tensor '" + name + "' must be a 1-D I64 tensor, found " + dtype_name(it->second.dtype) +
                           " of shape " + shape_string(it->second.shape));
  out->resize(it->second.numel());
  std::memcpy(out->data(), it->second.bytes.data(), it->second.bytes.size());
  return Status::ok();
}

std::string safetensors_header(const SafetensorsFile& file, const std::map<std::string, uint64_t>& streamed_bytes) {
  nlohmann::ordered_json header;
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    const auto streamed = streamed_bytes.find(name);
    const uint64_t size = streamed == streamed_bytes.end() ? t.bytes.size() : streamed->second;
    header[name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out;
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  return out + json;
}

std::string serialize_safetensors(const SafetensorsFile& file) {
  std::string out = safetensors_header(file, {});
  size_t data_bytes = 0;
  for (const auto& [name, t] : file.tensors) data_bytes += t.bytes.size();
  out.reserve(out.size() + data_bytes);
  for (const auto& [name, t] : file.tensors) out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  return out;
}

Status parse_safetensors(const uint8_t* data, size_t size, const std::string& origin, SafetensorsFile* out) {
  auto bad = [&origin](const std::string& what) {
    return Status::runtime(origin + ": not a valid safetensors file: " + what);
  };
  if (size < 8) return bad("it is " + std::to_string(size) + " bytes long, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(data[i]) << (8 * i);
  if (header_len > kMaxHeaderBytes) return bad("header length " + std::to_string(header_len) + " exceeds 100 MB");
  if (header_len > size - 8)
    return bad("header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(size) + " bytes): the file is truncated");
  // nlohmann's parser takes a NUL byte for the end of its input and would ignore whatever follows it.
  if (std::memchr(data + 8, 0, header_len) != nullptr) return bad("the header holds a NUL byte");
  const auto header = nlohmann::json::parse(data + 8, data + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return bad("the header is not a JSON object");
  const uint8_t* buffer = data + 8 + header_len;
  const uint64_t buffer_size = size - 8 - header_len;

  SafetensorsFile file;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const auto& v = it.value();
    if (it.key() == "__metadata__") {
      if (!v.is_object()) return bad("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return bad("__metadata__ value of '" + m.key() + "' is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string& name = it.key();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") || v.size() != 3)
      return bad("tensor '" + name + "' must have exactly dtype, shape and data_offsets");
    if (!v["dtype"].is_string()) return bad("tensor '" + name + "' has a dtype that is not a string");
    SafeTensor t;
    bool known = false;
    for (const auto& d : kDTypes)
      if (v["dtype"].get<std::string>() == d.name) t.dtype = d.dtype, known = true;
    if (!known) return bad("tensor '" + name + "' has unknown dtype " + v["dtype"].dump());
    if (!v["shape"].is_array()) return bad("tensor '" + name + "' has a shape that is not a list");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned())
        return bad("tensor '" + name + "' has a shape entry that is not a non-negative integer");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / dim)
        return bad("tensor '" + name + "' has a shape too large to address");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offsets = v["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      return bad("tensor '" + name + "' must have data_offsets [begin, end] of non-negative integers");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > buffer_size)
      return bad("tensor '" + name + "' has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                 "] outside the " + std::to_string(buffer_size) + "-byte data buffer (truncated file?)");
    if (end - begin != numel * dtype_size(t.dtype))
      return bad("tensor '" + name + "' spans " + std::to_string(end - begin) + " bytes but dtype x shape needs " +
                 std::to_string(numel * dtype_size(t.dtype)));
    spans.push_back({begin, end, name});
    t.bytes.assign(buffer + begin, buffer + end);
    file.tensors[name] = std::move(t);
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& x, const Span& y) { return x.begin < y.begin || (x.begin == y.begin && x.end < y.end); });
  uint64_t expected = 0;
  for (const Span& s : spans) {
    if (s.begin != expected)
      return bad("tensor '" + s.name + "' starts at byte " + std::to_string(s.begin) + " where " +
                 std::to_string(expected) + " was expected (tensors overlap or leave a gap)");
    expected = s.end;
  }
  if (expected != buffer_size)
    return bad("the tensors cover " + std::to_string(expected) + " bytes of a " + std::to_string(buffer_size) +
               "-byte data buffer");
  *out = std::move(file);
  return Status::ok();
}

Status read_safetensors(const std::string& path, SafetensorsFile* out) {
  std::vector<uint8_t> bytes;
  BILMOD_TRY(read_file_bytes(path, "safetensors file", &bytes));
  return parse_safetensors(bytes.data(), bytes.size(), path, out);
}

}  // namespace bilmod
