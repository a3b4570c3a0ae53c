// The subcommand table (ninja's habit): each command adds its flags to a CLI11 sub-app and returns the
// function that runs it once the command line has parsed. Runners return the process exit code.
#pragma once
#include <functional>
#include <string>

#include "util/status.h"

// CLI11 is header-only and costs ~6 s to compile in each file that includes it: only the files that declare flags do.
namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace bilmod {

struct RunConfig;

using CommandRunner = std::function<int()>;
using CommandSetup = CommandRunner (*)(CLI::App* command);

struct CommandEntry {
  const char* name;
  const char* summary;
  CommandSetup setup;
};

// Prints "bilmod <command>: error: <message>" on stderr and returns the Status's exit code.
int report_failure(const std::string& command, const Status& status);

// --max-memory SIZE: what the command may assume it has, instead of MemAvailable (util/memory_budget.h).
void add_max_memory_option(CLI::App* command, std::string* value);

// --model NAME, or another of the settings that hold a name (config/run_config.h named_settings()): the name is parsed
// into config's enum as the command line is read. A name the setting does not know stops the command there with
// parse_named_setting's usage Status, as report_failure reports any ("bilmod train: error: --model 'foo' is not
// known: ..."; exit 2).
CLI::Option* add_named_setting_option(CLI::App* command, const std::string& key, RunConfig* config,
                                      const std::string& help);

// The flags of the settings only some models read, as each model declares them (model/model.h flags()): a named
// setting as add_named_setting_option, a setting that defaults to true as its negation (--no-bias), any other as an
// option of the setting's type; the help names the models that read it.
void add_model_flags(CLI::App* command, RunConfig* config);

// The loaded state's size for a memory estimate: the checkpoint file's size (it holds the parameters, the
// optimiser state and the split), 0 if it cannot be read.
int64_t loaded_state_bytes(const std::string& path);

// The commands, in the order `bilmod --help` lists them.
CommandRunner setup_train_command(CLI::App* command);
CommandRunner setup_dataset_command(CLI::App* command);
CommandRunner setup_sweep_command(CLI::App* command);
CommandRunner setup_runs_command(CLI::App* command);
CommandRunner setup_plot_run_command(CLI::App* command);
CommandRunner setup_dashboard_command(CLI::App* command);
CommandRunner setup_evaluate_command(CLI::App* command);
CommandRunner setup_visualize_command(CLI::App* command);
CommandRunner setup_analyze_command(CLI::App* command);

}  // namespace bilmod
