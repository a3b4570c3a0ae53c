// The .pt loader against archives that lie about their entries. Well-formed torch.save files are tested from Python
// (tests/parity/test_analysis_torch_checkpoint.py); the fuzz target fuzz/fuzz_torch_checkpoint.cc tries the rest.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <string>

#include "checkpoint/torch_checkpoint.h"

namespace bilmod {
namespace {

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // KiB on Linux
}

// A 1.7 KB archive (found by the fuzzer) whose entry data/0 claims 1.8 GB, stored, and holds 120 bytes. The loader
// used to allocate and zero the claimed size before reading (2 GB of memory, 3.5 s under ASan); it must now fail
// on the bytes that are really there, with a message that says so, and hardly any memory.
TEST(TorchCheckpoint, AnEntryClaimingMoreThanItHoldsIsAnErrorWithoutTheMemory) {
  const std::string path = std::string(BILMOD_SOURCE_DIR) + "/fuzz/regressions/torch_checkpoint/entry_claims_1800MB.pt";
  const long before = peak_rss_kib();
  TorchCheckpoint checkpoint;
  const Status status = load_torch_checkpoint(path, &checkpoint);
  const long grown_mib = (peak_rss_kib() - before) / 1024;
  ASSERT_FALSE(status.is_ok());
  // The entry's claimed size is compared with the pickle's before a byte is inflated.
  EXPECT_NE(status.message().find("has a storage of 1818584175 bytes where its header says 120"), std::string::npos)
      << status.message();
  EXPECT_LT(grown_mib, 64) << "peak memory grew by " << grown_mib << " MiB loading a 1.7 KB file";
}

}  // namespace
}  // namespace bilmod
