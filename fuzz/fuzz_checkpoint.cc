// libFuzzer target: the checkpoint loader on arbitrary bytes. Two ways in:
//  1. the bytes as they are (the container, then the checksums);
//  2. the bytes with both checksums recomputed, when the container parses, so that mutations of the metadata,
//     config and tensors reach the validation that runs after the checksums instead of stopping there.
// A load that succeeds must round-trip: saving the state and loading it again gives the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors.h"

namespace {

void check_round_trip(const bilmod::TrainingState& state) {
  const std::string saved = bilmod::serialize_checkpoint(state);
  bilmod::TrainingState again;
  const bilmod::Status s =
      bilmod::parse_checkpoint(reinterpret_cast<const uint8_t*>(saved.data()), saved.size(), "round-trip", &again);
  if (!s) {
    std::fprintf(stderr, "a loaded checkpoint does not load after saving: %s\n", s.message().c_str());
    std::abort();
  }
  if (bilmod::serialize_checkpoint(again) != saved) {
    std::fprintf(stderr, "save(load(save(x))) differs from save(x)\n");
    std::abort();
  }
}

// The pair table of the data set holds P^2 entries by design (46340^2 at most): a memory test, not a parser
// test, so configs with a large P are left out rather than hitting libFuzzer's malloc limit.
bool large_modulus(const bilmod::SafetensorsFile& file) {
  auto it = file.metadata.find("config");
  if (it == file.metadata.end()) return false;
  const auto config = nlohmann::json::parse(it->second, nullptr, false);
  if (!config.is_object() || !config.contains("mod_basis")) return false;
  const auto& p = config["mod_basis"];
  return p.is_number() && p.get<double>() > 512;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bilmod::TrainingState state;
  bilmod::SafetensorsFile file;
  if (!bilmod::parse_safetensors(data, size, "fuzz", &file)) return 0;
  if (large_modulus(file)) return 0;
  if (bilmod::parse_checkpoint(data, size, "fuzz", &state)) check_round_trip(state);

  file.metadata["data_checksum"] = bilmod::data_checksum(file);
  file.metadata["header_checksum"] = bilmod::header_checksum(file);
  const std::string fixed = bilmod::serialize_safetensors(file);
  bilmod::TrainingState fixed_state;
  if (bilmod::parse_checkpoint(reinterpret_cast<const uint8_t*>(fixed.data()), fixed.size(), "fuzz", &fixed_state))
    check_round_trip(fixed_state);
  return 0;
}
