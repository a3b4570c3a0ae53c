// libFuzzer target: the run configuration as saved in a checkpoint's metadata (config_from_json, validate).
// A config that reads and validates must survive to_json -> config_from_json unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "config/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) return 0;
  // validate() counts the P^2 pairs of the table; a large P is a memory test, not a parser test.
  if (json.is_object() && json.contains("mod_basis") && json["mod_basis"].is_number() &&
      json["mod_basis"].get<double>() > 512)
    return 0;
  bilmod::RunConfig config;
  if (!bilmod::config_from_json(json, &config)) return 0;
  if (!config.validate()) return 0;
  const nlohmann::json saved = bilmod::to_json(config);
  bilmod::RunConfig again;
  if (!bilmod::config_from_json(saved, &again) || bilmod::to_json(again) != saved) {
    std::fprintf(stderr, "a valid config changed in the round trip: %s\n", saved.dump().c_str());
    std::abort();
  }
  (void)config.model_spec();
  (void)config.optimizer_settings();
  (void)config.steps_per_epoch(1 + static_cast<int64_t>(size));
  return 0;
}
