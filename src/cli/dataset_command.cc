// bilmod dataset: the seed's unfinished data module, finished: the table and the split exactly as training
// uses them, in a file numpy and PyTorch read.
#include <memory>

#include <CLI/CLI.hpp>

#include "checkpoint/safetensors.h"
#include "cli/command.h"
#include "data/dataset.h"
#include "config/run_config.h"
#include "train/memory_estimate.h"
#include "util/atomic_file.h"
#include "util/memory_budget.h"

namespace bilmod {

namespace {
struct DatasetOptions {
  RunConfig config;  // mod_basis, operation, train_frac, seed/data_seed
  std::string output;
  std::string max_memory;
};

int run_dataset(const DatasetOptions& options) {
  RunConfig c = options.config;
  c.model = ModelKind::kFactored;  // validate() checks the data settings; the model plays no part here
  if (Status s = c.validate(); !s) return report_failure("dataset", s);
  if (options.output.empty()) return report_failure("dataset", Status::usage("--output FILE.safetensors is required"));
  MemoryBudget budget;
  if (Status s = memory_budget(options.max_memory, &budget); !s) return report_failure("dataset", s);
  {
    // The split, then per defined pair a, b, c and its index (int64) twice over: the tensors and the file's bytes.
    const int64_t P = c.mod_basis;
    MemoryEstimate estimate;
    estimate.bytes = kProcessBaseBytes + dataset_bytes(P) + P * P * 8 * 4 * 2 + P * P * 8 * 2;
    estimate.what = "dataset: P = " + std::to_string(P) + ", " + std::to_string(P * P) + " pairs";
    estimate.remedy = "use a smaller --mod-basis";
    if (Status s = check_memory(estimate, budget); !s) return report_failure("dataset", s);
  }
  const Dataset data = c.make_data();
  const std::vector<int64_t> pairs = defined_pairs(c.mod_basis, c.operation);
  std::vector<int64_t> a, b, label;
  for (int64_t pair : pairs) {
    a.push_back(data.pair_a(pair));
    b.push_back(data.pair_b(pair));
    label.push_back(data.label[pair]);
  }
  SafetensorsFile file;
  const auto n = static_cast<int64_t>(pairs.size());
  file.put_i64("pair_index", {n}, pairs.data());
  file.put_i64("a", {n}, a.data());
  file.put_i64("b", {n}, b.data());
  file.put_i64("c", {n}, label.data());
  file.put_i64("data.train_indices", {static_cast<int64_t>(data.train_indices.size())}, data.train_indices.data());
  file.put_i64("data.val_indices", {static_cast<int64_t>(data.val_indices.size())}, data.val_indices.data());
  file.metadata = {{"format", "bilmod-dataset"},
                   {"format_version", "1"},
                   {"mod_basis", std::to_string(c.mod_basis)},
                   {"operation", operation_name(c.operation)},
                   {"train_frac", std::to_string(c.train_frac)},
                   {"data_seed", std::to_string(c.effective_data_seed())},
                   {"split", split_kind_name(c.split)},
                   {"note", "pair_index = a*P + b; data.*_indices are pair indices, in split order"}};
  if (Status s = write_file_atomically(options.output, serialize_safetensors(file)); !s)
    return report_failure("dataset", s);
  std::printf("wrote %s: %lld pairs, %zu train, %zu validation\n", options.output.c_str(), static_cast<long long>(n),
              data.train_indices.size(), data.val_indices.size());
  return 0;
}
}  // namespace

CommandRunner setup_dataset_command(CLI::App* cmd) {
  auto o = std::make_shared<DatasetOptions>();
  cmd->add_option("--mod-basis", o->config.mod_basis, "Modulus P");
  add_named_setting_option(cmd, "operation", &o->config,
                           "add, sub, mul, div, x2+y2, x2+xy+y2, x2+xy+y2+x, x3+xy or x3+xy2+y");
  cmd->add_option("--train-frac", o->config.train_frac, "Fraction of the pairs in the train split (floor)");
  cmd->add_option("--seed", o->config.seed, "Seed of the split (training's --data-seed, which defaults to --seed)")
      ->check(CLI::NonNegativeNumber);  // CLI11 would wrap -1 to 2^64 - 1
  add_named_setting_option(cmd, "split", &o->config,
                           "bilmod (its own shuffle) or torch (the upstream's: torch.randperm(N) under "
                           "manual_seed(seed), the first int(N * train_frac) train)");
  cmd->add_option("--output", o->output, "Output file (.safetensors)")->required();
  add_max_memory_option(cmd, &o->max_memory);
  return [o]() { return run_dataset(*o); };
}

}  // namespace bilmod
