// bilmod: train and dissect small networks on modular arithmetic.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "cli/environment.h"
#include "cli/command.h"
#include "config/run_config.h"
#include "model/model.h"
#include "util/log.h"

namespace bilmod {

namespace {
const CommandEntry kCommands[] = {
    {"train", "Train a model on (a op b) mod P and write checkpoints", setup_train_command},
    {"dataset", "Write the table (a, b, c) and its train/validation split as safetensors", setup_dataset_command},
    {"sweep", "Run a grid of training runs (--jobs at a time, or over MPI ranks), with a summary and phase diagram",
     setup_sweep_command},
    {"runs", "List tracked projects and runs (trackio's store); `runs export` writes one run's metrics",
     setup_runs_command},
    {"plot-run", "Draw runs' accuracy and loss against epoch (the grokking picture)", setup_plot_run_command},
    {"dashboard", "Serve a live web dashboard of the tracked runs on 127.0.0.1", setup_dashboard_command},
    {"evaluate", "Loss and accuracy of a checkpoint, and optionally its logits on every pair", setup_evaluate_command},
    {"visualize-checkpoint",
     "Draw a checkpoint's interaction matrices, spectra and Fourier structure (PNG + SVG + index.html)",
     setup_visualize_command},
    {"analyze",
     "Report a checkpoint's spectra, key frequencies, restricted/excluded loss (or, --over-training, a run's)",
     setup_analyze_command},
};

// A named setting's unknown name, thrown from its option's callback while CLI11 reads the command line; main reports
// its Status as a runner's failure, not as CLI11's parse error.
class NamedSettingError : public std::runtime_error {
 public:
  NamedSettingError(std::string command, Status status)
      : std::runtime_error(status.message()), command_(std::move(command)), status_(std::move(status)) {}
  const std::string& command() const { return command_; }
  const Status& status() const { return status_; }

 private:
  std::string command_;
  Status status_;
};
}  // namespace

CLI::Option* add_named_setting_option(CLI::App* command, const std::string& key, RunConfig* config,
                                      const std::string& help) {
  const std::string name = command->get_name();
  CLI::Option* option = command->add_option_function<std::string>(
      "--" + flag_name(key),
      [name, key, config](const std::string& value) {
    if (Status s = parse_named_setting(key, value, config); !s) throw NamedSettingError(name, s);
      },
      help);
  option->default_str(to_json(*config).at(key).get<std::string>());  // the help's default, as for the other options
  return option;
}

namespace {
// One setting of `config` set by its key, through the config's JSON (config/run_config.h to_json and back).
void set_setting(const std::string& command, RunConfig* config, const std::string& key, nlohmann::json value) {
  nlohmann::json j = to_json(*config);
  j[key] = std::move(value);
  if (Status s = config_from_json(j, config); !s) throw NamedSettingError(command, Status::usage(s.message()));
}
}  // namespace

void add_model_flags(CLI::App* command, RunConfig* config) {
  std::vector<std::string> keys;
  std::map<std::string, std::string> help;
  for (const Model* model : registered_models())
    for (const ModelFlag& flag : model->flags()) {
      if (!help.count(flag.key)) keys.push_back(flag.key);
      std::string& text = help[flag.key];
      text += (text.empty() ? "" : "; ") + std::string("--model ") + model->name() + ": " + flag.help;
    }
  const nlohmann::json defaults = to_json(*config);
  const std::vector<std::string>& named = named_settings();
  const std::string name = command->get_name();
  for (const std::string& key : keys) {
    const nlohmann::json& value = defaults.at(key);
    const std::string flag = "--" + flag_name(key);
    if (std::find(named.begin(), named.end(), key) != named.end()) {
      add_named_setting_option(command, key, config, help[key]);
    } else if (value.is_boolean()) {
      command->add_flag_callback(
          flag, [=] { set_setting(name, config, key, !value.get<bool>()); }, help[key]);
    } else if (value.is_number_integer()) {
      command
          ->add_option_function<int64_t>(
              flag, [=](int64_t v) { set_setting(name, config, key, v); }, help[key])
          ->default_str(value.dump());
    } else if (value.is_number()) {
      command
          ->add_option_function<double>(
              flag, [=](double v) { set_setting(name, config, key, v); }, help[key])
          ->default_str(value.dump());
    } else {
      command->add_option_function<std::string>(
          flag, [=](const std::string& v) { set_setting(name, config, key, v); }, help[key]);
    }
  }
}

void add_max_memory_option(CLI::App* command, std::string* value) {
  command->add_option("--max-memory", *value,
                      "Memory this command may use (e.g. 8G), instead of the available memory it reads at start; it "
                      "refuses to start when its estimate exceeds this");
}

int64_t loaded_state_bytes(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

int report_failure(const std::string& command, const Status& status) {
  log::clear_status_line();
  std::fprintf(stderr, "bilmod %s: error: %s\n", command.c_str(), status.message().c_str());
  std::fflush(stderr);
  return status.exit_code();
}

}  // namespace bilmod

int main(int argc, char** argv) {
  using namespace bilmod;
  // A write past RLIMIT_FSIZE (ulimit -f) must fail with EFBIG, to be reported like a full disk with the previous
  // file kept, instead of SIGXFSZ killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  apply_environment_overrides();
  CLI::App app{"bilmod " BILMOD_VERSION
               ": train and dissect small networks on modular arithmetic (grokking, bilinear layers)"};
  app.set_version_flag("--version", "bilmod " BILMOD_VERSION);
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();
  std::map<std::string, CommandRunner> runners;
  std::map<std::string, CLI::App*> commands;
  for (const CommandEntry& entry : kCommands) {
    CLI::App* command = app.add_subcommand(entry.name, entry.summary);
    command->option_defaults()->always_capture_default();
    runners[entry.name] = entry.setup(command);
    commands[entry.name] = command;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const NamedSettingError& e) {
    return report_failure(e.command(), e.status());
  } catch (const CLI::ParseError& e) {
    std::string where = "bilmod";
    for (const auto& [name, command] : commands)
      if (command->parsed()) where = "bilmod " + name;
    std::fprintf(stderr, "%s: error: %s (see '%s --help')\n", where.c_str(), e.what(), where.c_str());
    return static_cast<int>(ExitCode::kUsage);
  }
  for (const auto& [name, command] : commands)
    if (command->parsed()) {
      // Memory running out anywhere (a model larger than the estimates foresaw, the machine's other users) is one line
      // and exit 1, as any other run-time failure, never an abort with a core dump.
      int code;
      try {
        code = runners[name]();
      } catch (const std::bad_alloc&) {
        code = report_failure(name, Status::runtime("out of memory: an allocation failed (see --max-memory, and the "
                                                    "memory this machine has free)"));
      }
      log::shutdown();
      return code;
    }
  return static_cast<int>(ExitCode::kUsage);
}
