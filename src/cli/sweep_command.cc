// bilmod sweep: a grid of ordinary bilmod runs, --jobs at a time on this machine or spread over the ranks of
// `mpirun -np K bilmod sweep ...`; resumable, with early stop, a summary and a phase diagram.
//
// The same binary is also each run's worker: `bilmod sweep --run-dir DIR/RUN` (started by the sweep, never by
// a person) trains the run described in DIR/RUN/run.json with the ordinary engine and writes DIR/RUN/result.json.
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <map>
#include <set>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "checkpoint/checkpoint.h"
#include "cli/command.h"
#include "cli/console_observer.h"
#include "sweep/dispatcher.h"
#include "sweep/grid_file.h"
#include "sweep/mpi_link.h"
#include "sweep/phase_diagram.h"
#include "sweep/run_worker.h"
#include "sweep/summary.h"
#include "sweep/sweep_spec.h"
#include "sweep/tracking_inbox.h"
#include "tracking/tracking_folder.h"
#include "tracking/tracking_observer.h"
#include "train/stop_signal.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/log.h"
#include "util/progress.h"

namespace bilmod {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct SweepFlags {
  std::vector<std::string> grid;
  std::string seeds;
  std::string grid_file;
  int64_t jobs = 0;
  std::string output_dir = "sweep";
  std::string name;
  double stop_at_val_acc = 0;
  int64_t patience = 1;
  std::string phase_axes;
  std::string phase_metric = "grok-epoch";
  std::string run_dir;  // worker mode
  // Every train flag, as text until its type is known from RunConfig; bool flags separately.
  std::map<std::string, std::string> fixed_text;
  std::map<std::string, bool> fixed_flags;
};

// ---- the worker: one run in this process ----

int run_worker(const SweepFlags& flags) {
  const std::string name = "sweep";
  // A worker must not outlive its sweep (killed with SIGKILL, say): the kernel then sends it SIGTERM, and it
  // checkpoints and stops like any interrupted run, so the next run of the sweep resumes it.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) return static_cast<int>(ExitCode::kTerminated);
  // The sweep started this process with SIGINT and SIGTERM blocked (sweep/run_slots.cc); start_run installs their
  // handlers and unblocks them, so one sent meanwhile is delivered then.
  PreparedRun run;
  if (Status s = prepare_run(flags.run_dir, &run); !s) return report_failure(name, s);
  const RunConfig& config = run.state.config();
  RunResult result;
  if (run.already_stopped) {
    // Stopped early before, killed before its result was written: nothing to train.
    if (Status s = write_run_result(run, run.state, run.progress, Status::ok(), &result); !s)
      return report_failure(name, s);
    return 0;
  }
  ConsoleObserver console(false);
  MilestoneObserver milestones(flags.run_dir, run.spec.stop_at_val_acc, run.spec.patience, run.progress);
  std::vector<TrainingObserver*> observers = {&console, &milestones};
  // Tracking as `bilmod train` does it (the SQLite store), or through trackio's inbox where the sweep chose it.
  TrackingObserver store;
  InboxTrackingObserver inbox;
  if (!config.no_track) {
    if (run.spec.tracking_inbox) {
      if (Status s = inbox.open(run.state); !s) return report_failure(name, s);
      observers.push_back(&inbox);
    } else {
      if (Status s = store.open(&run.state); !s) return report_failure(name, s);
      observers.push_back(&store);
    }
  }
  const Status outcome = train(&run.state, observers);
  if (outcome.code() == ExitCode::kInterrupted || outcome.code() == ExitCode::kTerminated)
    return report_failure(name, outcome);  // no result: the next run of the sweep resumes from the checkpoint
  if (!milestones.save_error().is_ok()) log::warning("progress not saved: " + milestones.save_error().message());
  if (Status s = write_run_result(run, run.state, milestones.progress(), outcome, &result); !s)
    return report_failure(name, s);
  if (!outcome) return report_failure(name, outcome);
  return 0;
}

// ---- the sweep ----

// The cores this process may use (its affinity mask: what taskset, Slurm or mpirun's binding gave it).
int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int default_jobs(const mpi::World& world) {
  const int cores = usable_cores();
  // Unbound ranks on one node all see every core: share them. A rank bound to its own cores uses those.
  const bool unbound = cores >= static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, unbound ? cores / world.local_size : cores);
}

Status build_spec(const CLI::App& cmd, const SweepFlags& flags, SweepSpec* spec) {
  if (!flags.grid_file.empty()) BILMOD_TRY(load_grid_file(flags.grid_file, spec));
  for (const std::string& argument : flags.grid) {
    GridAxis axis;
    BILMOD_TRY(parse_grid_argument(argument, &axis));
    spec->axes.push_back(std::move(axis));
  }
  if (!flags.seeds.empty()) {
    GridAxis seeds{"seed", {}};
    BILMOD_TRY(parse_seed_list(flags.seeds, &seeds.values));
    spec->axes.push_back(std::move(seeds));
  }
  // Seeds vary fastest: the runs of one setting sit side by side in the summary.
  std::stable_partition(spec->axes.begin(), spec->axes.end(), [](const GridAxis& a) { return a.key != "seed"; });
  for (const auto& [key, text] : flags.fixed_text) {
    if (cmd.count("--" + flag_name(key)) == 0) continue;
    json value;
    BILMOD_TRY(parse_fixed_value(key, text, &value));
    spec->fixed[key] = value;
  }
  for (const auto& [key, on] : flags.fixed_flags)
    if (cmd.count("--" + flag_name(key)) > 0) spec->fixed[key] = on;
  if (!flags.name.empty()) spec->name = flags.name;
  if (spec->name.empty()) {
    fs::path folder = fs::absolute(flags.output_dir).lexically_normal();
    if (!folder.has_filename()) folder = folder.parent_path();  // "runs/" names "runs"
    spec->name = folder.filename().string();
  }
  if (spec->name.empty() || spec->name == "." || spec->name == "..") spec->name = "sweep";
  if (cmd.count("--stop-at-val-acc")) spec->stop_at_val_acc = flags.stop_at_val_acc;
  if (cmd.count("--patience")) spec->patience = flags.patience;
  if (cmd.count("--patience") && spec->stop_at_val_acc <= 0)
    return Status::usage("--patience applies to early stop only: add --stop-at-val-acc (e.g. 0.99)");
  if (flags.jobs < 0) return Status::usage("--jobs must be >= 1 (0: one per core), got " + std::to_string(flags.jobs));
  if (flags.phase_metric != "grok-epoch" && flags.phase_metric != "val-accuracy")
    return Status::usage("--phase-metric '" + flags.phase_metric + "' is not known: use grok-epoch or val-accuracy");
  return Status::ok();
}

// Rank 0, before any run: the folder must hold this sweep or nothing. A run folder whose run.json asks for other
// settings is refused (re-running with changed settings would mix two experiments); runs with a finished result
// are kept and skipped.
Status check_output_dir(const std::string& output_dir, const std::vector<RunSpec>& runs,
                        std::map<int64_t, RunResult>* done) {
  BILMOD_TRY(check_writable_dir(output_dir, "--output-dir"));
  for (const RunSpec& run : runs) {
    const std::string dir = run_folder(output_dir, run.key);
    json saved;
    bool exists = false;
    const Status read = read_json_file((fs::path(dir) / kRunFile).string(), &saved, &exists);
    if (!exists) continue;
    RunSpec previous;
    if (!read || !run_spec_from_json(saved, &previous))
      return Status::runtime(dir + "/" + kRunFile + " is unreadable: remove " + dir + " to run it again");
    const json was = to_json(previous.config), now = to_json(run.config);
    for (auto it = now.begin(); it != now.end(); ++it)
      // The run's own paths follow the folder (it may be moved, or named another way): they are no setting.
      if (it.key() != "checkpoint_dir" && it.key() != "log_file" && was.value(it.key(), json()) != it.value())
        return Status::usage("--output-dir " + output_dir + " already holds run " + run.key + " with --" +
                             flag_name(it.key()) + " " + was.value(it.key(), json()).dump() + ", this sweep asks for " +
                             it.value().dump() + ": use another --output-dir, or the same settings to resume it");
    if (previous.stop_at_val_acc != run.stop_at_val_acc || previous.patience != run.patience)
      return Status::usage(
          "--output-dir " + output_dir + " already holds run " + run.key +
          " with other early-stop settings: use another --output-dir, or the same settings to resume it");
    json result_json;
    RunResult result;
    if (read_json_file((fs::path(dir) / kResultFile).string(), &result_json) &&
        run_result_from_json(result_json, &result) && result.status == RunStatus::kFinished)
      (*done)[run.index] = result;
  }
  return Status::ok();
}

int run_sweep(const CLI::App& cmd, const SweepFlags& flags) {
  const std::string name = "sweep";
  if (mpi::launched_by_mpi() && !mpi::compiled_in())
    return report_failure(name,
                          Status::usage("launched by mpirun/srun, but this bilmod was built without MPI: install "
                                        "libopenmpi-dev and rebuild (CMake option BILMOD_MPI), or run without mpirun"));
  SweepSpec spec;
  if (Status s = build_spec(cmd, flags, &spec); !s) return report_failure(name, s);
  std::vector<SweepRun> expanded;
  // Absolute paths in every run's config: a worker (on any node, from any folder) finds its files.
  const std::string output_dir = fs::absolute(flags.output_dir).lexically_normal().string();
  if (Status s = expand_sweep(spec, output_dir, &expanded); !s) return report_failure(name, s);
  mpi::World world;
  if (Status s = mpi::init(&world); !s) return report_failure(name, s);
  // Tracking: the SQLite store directly, unless ranks on several nodes or a network file system make SQLite
  // unsafe; then trackio's JSONL inbox, imported at the end (sweep/tracking_inbox.h says why).
  const RunConfig& first = expanded.front().config;
  const std::string tracking_dir = resolve_tracking_dir(first.tracking_dir);
  std::string tracking_fs;
  const bool tracking_on_network = on_network_filesystem(tracking_dir, &tracking_fs);
  const bool tracking_inbox = !first.no_track && (world.size > 1 || tracking_on_network);
  std::vector<RunSpec> runs;
  for (const SweepRun& r : expanded)
    runs.push_back({r.index, r.key, r.settings, r.config, spec.stop_at_val_acc, spec.patience, tracking_inbox});
  std::vector<std::string> axis_keys;
  for (const GridAxis& axis : spec.axes) axis_keys.push_back(axis.key);
  PhaseDiagramRequest phase;
  if (Status s = choose_phase_axes(flags.phase_axes, flags.phase_metric, spec, &phase); !s)
    return report_failure(name, s);

  // Rank 0 checks the folder and decides what is left; every rank learns the outcome (an error stops them all).
  std::map<int64_t, RunResult> results;
  std::vector<size_t> pending;
  std::string verdict;
  if (world.rank == 0) {
    Status checked = check_output_dir(flags.output_dir, runs, &results);
    if (checked) {
      const json manifest = {{"format", "bilmod-sweep"},  {"format_version", 1},
                             {"name", spec.name},         {"axes", axis_keys},
                             {"runs", expanded.size()},   {"stop_at_val_acc", spec.stop_at_val_acc},
                             {"patience", spec.patience}, {"ranks", world.size}};
      checked = write_file_atomically((fs::path(flags.output_dir) / "sweep.json").string(), manifest.dump(2) + "\n");
    }
    if (!checked) {
      verdict = "error";
      mpi::broadcast(&verdict);
      mpi::finalize();
      return report_failure(name, checked);
    }
    verdict = "ok";
  }
  mpi::broadcast(&verdict);
  if (verdict != "ok") {
    mpi::finalize();
    return static_cast<int>(ExitCode::kUsage);
  }
  for (size_t i = 0; i < runs.size(); ++i)
    if (!results.count(runs[i].index)) pending.push_back(i);

  const int jobs = flags.jobs > 0 ? static_cast<int>(flags.jobs) : default_jobs(world);
  install_stop_signals();
  RunSlots slots(own_executable(), flags.output_dir, jobs);
  if (world.rank != 0) {
    serve_runs(runs, &slots);
    mpi::finalize();
    return 0;
  }
  if (world.size > 1 || !pending.empty())
    log::info("sweep " + spec.name + ": " + std::to_string(runs.size()) + " runs (" + std::to_string(results.size()) +
              " already finished), " + std::to_string(jobs) + " at a time" +
              (world.size > 1 ? " on each of " + std::to_string(world.size) + " ranks" : std::string()) + ", in " +
              flags.output_dir);
  SweepProgress progress(spec.name, static_cast<int64_t>(runs.size()), static_cast<int64_t>(results.size()),
                         ProgressBar::stderr_is_terminal());
  std::vector<RunResult> ended;
  dispatch_runs(world, runs, pending, &slots, &progress, &ended);
  progress.finish();
  mpi::finalize();
  for (RunResult& r : ended) results[r.index] = std::move(r);
  if (tracking_inbox) {
    std::set<std::string> run_ids;
    for (const auto& [index, r] : results)
      if (!r.run_id.empty()) run_ids.insert(r.run_id);
    if (tracking_on_network) {
      log::info("tracking rows are in trackio's inbox " + tracking_dir + "/inbox (" + tracking_fs +
                ": SQLite is unsafe there); trackio imports them into " + first.project + ".db");
    } else if (int64_t rows = 0; Status s = import_inbox(tracking_dir, first.project, run_ids, &rows)) {
      log::info("tracking: " + std::to_string(rows) + " rows of " + std::to_string(run_ids.size()) +
                " runs imported from the inbox into " + project_db_path(tracking_dir, first.project));
    } else {
      log::warning("tracking inbox not imported (" + s.message() + "); its files are kept in " + tracking_dir +
                   "/inbox");
    }
  }

  if (Status s = write_summary(flags.output_dir, spec.name, axis_keys, runs, results); !s)
    return report_failure(name, s);
  std::string figure_note;
  if (phase.enabled) {
    if (Status s = draw_phase_diagram(flags.output_dir, phase, runs, results, &figure_note); !s)
      log::warning("phase diagram not drawn: " + s.message());
  }
  int64_t finished = 0, failed = 0;
  for (const auto& [index, r] : results) {
    finished += r.status == RunStatus::kFinished;
    failed += r.status == RunStatus::kFailed;
  }
  const int64_t missing = static_cast<int64_t>(runs.size()) - finished - failed;
  const std::string where = fs::path(flags.output_dir).string();
  if (g_stop_signal.load() != 0)
    return report_failure(
        name, Status::interrupted(g_stop_signal.load() == SIGTERM,
                                  "stopped with " + std::to_string(finished) + "/" + std::to_string(runs.size()) +
                                      " runs finished; run the same command again to resume the other " +
                                      std::to_string(missing)));
  if (failed > 0)
    return report_failure(
        name, Status::runtime(std::to_string(failed) + " of " + std::to_string(runs.size()) + " runs failed (see " +
                              where + "/summary.csv and each RUN/output.log); the " + std::to_string(finished) +
                              " others finished. Run the same command to retry them"));
  log::success("sweep " + spec.name + ": " + std::to_string(finished) + " runs finished; " + where + "/summary.csv, " +
               where + "/summary.json" + (figure_note.empty() ? std::string() : ", " + figure_note));
  return 0;
}

}  // namespace

CommandRunner setup_sweep_command(CLI::App* cmd) {
  auto flags = std::make_shared<SweepFlags>();
  cmd->add_option("--grid", flags->grid,
                  "A swept setting: NAME=V1,V2,... or NAME=START:STOP:STEP (inclusive), NAME any train flag; repeat "
                  "for more axes (first outermost)")
      ->group("Sweep");
  cmd->add_option("--seeds", flags->seeds, "Seeds to repeat every setting with: 0-4, 0,3,7 (the fastest-varying axis)")
      ->group("Sweep");
  cmd->add_option("--grid-file", flags->grid_file,
                  "The sweep written down (JSON, or TOML by its .toml name): {name, grid, fixed, seeds, "
                  "stop_at_val_acc, patience}; command-line flags add axes and override fixed settings")
      ->group("Sweep");
  cmd->add_option("--jobs,-j", flags->jobs, "Runs at a time on this machine (per MPI rank); 0: one per usable core")
      ->group("Sweep");
  cmd->add_option("--output-dir", flags->output_dir, "Folder of the sweep: DIR/RUN/{checkpoints,...}, summary, figure")
      ->group("Sweep");
  cmd->add_option("--name", flags->name, "Sweep name: the runs' --group and name prefix (default: the folder's name)")
      ->group("Sweep");
  cmd->add_option("--stop-at-val-acc", flags->stop_at_val_acc,
                  "Early stop: end a run once validation accuracy reaches this (0: off)")
      ->group("Sweep");
  cmd->add_option("--patience", flags->patience,
                  "Early stop: evaluations in a row at or above --stop-at-val-acc before the run ends")
      ->group("Sweep");
  cmd->add_option("--phase-axes", flags->phase_axes,
                  "The two swept settings of the phase diagram, X,Y (default: the first two swept, seeds excluded)")
      ->group("Sweep");
  cmd->add_option("--phase-metric", flags->phase_metric,
                  "Phase-diagram colour: grok-epoch (epoch validation accuracy first reached 0.99, mean over seeds) or "
                  "val-accuracy (final, mean over seeds)")
      ->group("Sweep");
  cmd->add_option("--run-dir", flags->run_dir, "Internal: run one prepared run (the sweep starts these itself)")
      ->group("");
  // Every train setting is also a flag here, fixed for every run: its text is typed once RunConfig says how.
  const json defaults = to_json(RunConfig{});
  for (auto it = defaults.begin(); it != defaults.end(); ++it) {
    const std::string flag = "--" + flag_name(it.key());
    if (it.key() == "checkpoint_dir" || it.key() == "resume_from" || it.key() == "run_name" || it.key() == "log_file")
      continue;  // set per run by the sweep
    if (it.value().is_boolean()) {
      cmd->add_flag(flag, flags->fixed_flags[it.key()], "As in bilmod train, for every run")
          ->group("Fixed settings (as bilmod train)");
    } else {
      cmd->add_option(flag, flags->fixed_text[it.key()],
                      "As in bilmod train, for every run (default " +
                          (it.value().is_string() ? it.value().get<std::string>() : it.value().dump()) +
                          (it.key() == "threads" ? "; a sweep runs each run on 1" : "") + ")")
          ->default_str("")
          ->group("Fixed settings (as bilmod train)");
    }
  }
  cmd->footer(
      "\nEvery run is an ordinary bilmod run in DIR/RUN (checkpoints, log, config), tracked in --project with "
      "--group = the sweep's name. Re-running the same command skips finished runs and resumes interrupted "
      "ones. Under `mpirun -np K bilmod sweep ...` the runs are handed out to the K ranks as they free up.");
  return [cmd, flags]() { return flags->run_dir.empty() ? run_sweep(*cmd, *flags) : run_worker(*flags); };
}

}  // namespace bilmod
