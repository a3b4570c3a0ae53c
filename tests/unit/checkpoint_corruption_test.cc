// A real checkpoint, cut at every length and with single bits flipped across its header and data: each damaged file
// must give one clear error line naming the file, leave the caller's state untouched, and never crash (ninja's
// build_log_test habit, docs/ARCHITECTURE.md "Conventions"). Flips in tensor data must be caught by the data checksum
// itself.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors.h"
#include "train/trainer.h"

namespace bilmod {
namespace {

namespace fs = std::filesystem;

// Trains a tiny model for a few epochs (one of them stopped mid-way when `mid_epoch`) and returns the bytes of
// the checkpoint the trainer wrote.
std::string real_checkpoint(const std::string& model, const std::string& optimizer, bool mid_epoch = false) {
  const fs::path dir =
      fs::temp_directory_path() / ("bilmod_corruption_" + model + "_" + optimizer + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  RunConfig config;
  config.mod_basis = 7;
  config.hidden_dim = 4;
  config.batch_size = 8;
  config.epochs = 2;
  EXPECT_TRUE(parse_named_setting("model", model, &config).is_ok());
  EXPECT_TRUE(parse_named_setting("optimizer", optimizer, &config).is_ok());
  config.momentum = optimizer == "sgd" ? 0.9 : 0.0;
  config.checkpoint_dir = dir.string();
  config.no_track = true;
  TrainingState state;
  EXPECT_TRUE(create_training_state(config, &state).is_ok());
  std::string path = checkpoint_path(dir.string(), 2);
  if (mid_epoch) {
    // A stop request seen after the first step of epoch 1 writes checkpoint_epoch_0 holding epoch_step 1.
    g_stop_signal.store(SIGINT);
    const Status outcome = train(&state, {});
    g_stop_signal.store(0);
    EXPECT_EQ(outcome.exit_code(), 130) << outcome.message();
    EXPECT_EQ(state.epoch_step, 1);
    path = checkpoint_path(dir.string(), 0);
  } else {
    const Status outcome = train(&state, {});
    EXPECT_TRUE(outcome.is_ok()) << outcome.message();
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(dir);
  return bytes;
}

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  return n;
}

// A sentinel state that a failed load must leave exactly as it was.
TrainingState sentinel() {
  TrainingState s;
  s.epoch = 4242;
  s.run_id = "sentinel";
  return s;
}

bool untouched(const TrainingState& s) { return s.epoch == 4242 && s.run_id == "sentinel" && s.params.empty(); }

// Loads `bytes`; returns the error message ("" if it loaded) and checks the error's shape.
std::string load_error(const std::string& bytes, const std::string& what) {
  TrainingState state = sentinel();
  const Status s =
      parse_checkpoint(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "ckpt.safetensors", &state);
  if (s.is_ok()) return "";
  EXPECT_EQ(s.exit_code(), 1) << what;
  EXPECT_EQ(s.message().rfind("ckpt.safetensors: ", 0), 0u)
      << what << ": the error does not name the file: " << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << what << ": the error is not one line: " << s.message();
  EXPECT_TRUE(untouched(state)) << what << ": a failed load changed the caller's state";
  return s.message();
}

struct Case {
  const char* model;
  const char* optimizer;
  bool mid_epoch;
};
const Case kCases[] = {{"bilinear", "adamw", false}, {"factored", "sgd", false}, {"mlp", "adamw", true}};

TEST(CheckpointCorruption, IntactFileLoadsBitwise) {
  for (const Case& c : kCases) {
    const std::string bytes = real_checkpoint(c.model, c.optimizer, c.mid_epoch);
    ASSERT_GT(bytes.size(), 1000u);
    TrainingState state;
    const Status s = parse_checkpoint(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "ckpt", &state);
    ASSERT_TRUE(s.is_ok()) << c.model << ": " << s.message();
    EXPECT_EQ(serialize_checkpoint(state), bytes) << c.model << ": loading and saving again changed the bytes";
  }
}

TEST(CheckpointCorruption, EveryTruncationIsAClearError) {
  int tried = 0;
  for (const Case& c : kCases) {
    const std::string bytes = real_checkpoint(c.model, c.optimizer, c.mid_epoch);
    for (size_t length = 0; length < bytes.size(); ++length) {
      const std::string cut = bytes.substr(0, length);
      const std::string error = load_error(cut, std::string(c.model) + " cut to " + std::to_string(length) + " bytes");
      EXPECT_NE(error, "") << c.model << ": cut to " << length << " of " << bytes.size() << " bytes, it loaded";
      ++tried;
    }
    // One byte too many is as wrong as one too few.
    EXPECT_NE(load_error(bytes + '\0', "one byte appended"), "");
  }
  std::printf("truncations tried: %d\n", tried);
}

TEST(CheckpointCorruption, EverySingleBitFlipIsCaught) {
  int header_flips = 0, data_flips = 0;
  for (const Case& c : kCases) {
    const std::string bytes = real_checkpoint(c.model, c.optimizer, c.mid_epoch);
    const size_t data_begin = 8 + header_length(bytes);
    ASSERT_LT(data_begin, bytes.size());
    for (size_t byte = 0; byte < bytes.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = bytes;
        flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
        const std::string where =
            std::string(c.model) + " byte " + std::to_string(byte) + " bit " + std::to_string(bit);
        const std::string error = load_error(flipped, where);
        if (byte < data_begin) {
          ++header_flips;
          EXPECT_NE(error, "") << where << " (header) loaded without an error";
        } else {
          ++data_flips;
          // Tensor data is read as it is: only the checksum can tell, and it must.
          EXPECT_NE(error.find("tensor data does not match its checksum"), std::string::npos)
              << where << " (data): expected the checksum to catch it, got: '" << error << "'";
        }
        if (::testing::Test::HasFailure()) return;  // one bad case is enough to read
      }
    }
  }
  std::printf("bit flips tried: %d in headers, %d in data\n", header_flips, data_flips);
}

// A value in the header that still parses (an epoch, a config value, a digit of a metric) is exactly what a
// single bit flip can produce without breaking the JSON: the header checksum must catch it.
TEST(CheckpointCorruption, PlausibleHeaderEditsAreCaught) {
  const std::string bytes = real_checkpoint("bilinear", "adamw");
  // Same-length edits, so that the container stays valid and only the checksum can notice.
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"\"epoch\":\"2\"", "\"epoch\":\"3\""},
      {"\"step\":\"10\"", "\"step\":\"11\""},
      {"\\\"seed\\\":0", "\\\"seed\\\":1"},
      {"\\\"learning_rate\\\":0.003", "\\\"learning_rate\\\":0.002"},
  };
  for (const auto& [from, to] : edits) {
    std::string edited = bytes;
    const size_t at = edited.find(from);
    ASSERT_NE(at, std::string::npos) << "the header has no " << from;
    ASSERT_EQ(from.size(), to.size());
    edited.replace(at, from.size(), to);
    const std::string error = load_error(edited, "edit " + from + " -> " + to);
    EXPECT_NE(error.find("do not match their checksum"), std::string::npos)
        << "edit " << from << " -> " << to << ": expected the header checksum to catch it, got '" << error << "'";
  }
}

// Regression: a checkpoint whose config holds a deeply nested value (the checksums made consistent, as a
// hand-edited or maliciously crafted file would) must not overflow the stack while the error is reported.
TEST(CheckpointCorruption, DeeplyNestedConfigIsAnErrorNotACrash) {
  const std::string bytes = real_checkpoint("bilinear", "adamw");
  SafetensorsFile file;
  ASSERT_TRUE(parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x", &file).is_ok());
  for (const size_t depth : {size_t{1000}, size_t{300000}}) {
    file.metadata["config"] = "{\"seed\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
    file.metadata["header_checksum"] = header_checksum(file);
    const std::string crafted = serialize_safetensors(file);
    const std::string error = load_error(crafted, "nesting depth " + std::to_string(depth));
    EXPECT_NE(error, "") << "a config nested " << depth << " deep loaded";
  }
}

// A config naming a model, loss or split bilmod does not have (checksums made consistent, as a crafted file would):
// refused where the config is read, with the message validate() gives for any invalid value.
TEST(CheckpointCorruption, AConfigWithAnUnknownNameIsInvalid) {
  const std::string bytes = real_checkpoint("bilinear", "adamw");
  SafetensorsFile file;
  ASSERT_TRUE(parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x", &file).is_ok());
  const std::pair<const char*, const char*> cases[] = {
      {"\"model\":\"bilinear\"",
       "ckpt.safetensors: its config is invalid: --model 'foo' is not known: use bilinear, factored, mlp, "
       "transformer or clock-pizza"},
      {"\"loss_precision\":\"float32\"",
       "ckpt.safetensors: its config is invalid: --loss-precision 'foo' is not known: use float32 or float64"}};
  for (const auto& [setting, message] : cases) {
    std::string config = file.metadata["config"];
    const size_t at = config.find(setting);
    ASSERT_NE(at, std::string::npos) << config;
    const std::string key = std::string(setting).substr(0, std::string(setting).find(':'));
    config.replace(at, std::strlen(setting), key + ":\"foo\"");
    SafetensorsFile crafted = file;
    crafted.metadata["config"] = config;
    crafted.metadata["header_checksum"] = header_checksum(crafted);
    EXPECT_EQ(load_error(serialize_safetensors(crafted), key + " foo"), message);
  }
}

// A config that claims a model far larger than the tensors the file holds (checksums made consistent, as a crafted
// file would): refused from the sizes alone, before the parameters it describes are allocated (H = 2^20 at P = 7
// is 5 x 10^7 parameters, 600 MB with the moments; the config may claim up to 2^40).
TEST(CheckpointCorruption, AConfigClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating) {
  const std::string bytes = real_checkpoint("bilinear", "adamw");
  SafetensorsFile file;
  ASSERT_TRUE(parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x", &file).is_ok());
  for (const char* hidden : {"3", "1048576"}) {
    std::string config = file.metadata["config"];
    const size_t at = config.find("\"hidden_dim\":4");
    ASSERT_NE(at, std::string::npos) << config;
    config.replace(at, std::strlen("\"hidden_dim\":4"), std::string("\"hidden_dim\":") + hidden);
    SafetensorsFile crafted = file;
    crafted.metadata["config"] = config;
    crafted.metadata["header_checksum"] = header_checksum(crafted);
    const std::string error = load_error(serialize_safetensors(crafted), std::string("hidden_dim ") + hidden);
    if (std::string(hidden) == "3") {  // one unit fewer: the sizes fit in the file, and the shapes then disagree
      EXPECT_NE(error.find("shape"), std::string::npos) << error;
    } else {
      EXPECT_NE(error.find("but the file holds"), std::string::npos) << error;
    }
  }
}

}  // namespace
}  // namespace bilmod
