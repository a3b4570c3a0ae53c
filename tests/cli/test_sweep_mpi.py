"""`mpirun -np 2 bilmod sweep ...` gives the summary `bilmod sweep --jobs 2` gives (every column but wall time and
the random run id), with the runs spread over both ranks by the dispatcher; and the tracking store ends up with the
same runs, group and rows, although under MPI they travel through trackio's JSONL inbox (imported at the end, the
inbox left empty) while the local sweep writes SQLite directly: every metrics row's step and values, and every run's
config, compared between the two stores (all but the columns that differ by nature: row id, timestamps, the random
run and log ids, and the folders each sweep was told to use). Skipped, saying so, only where mpirun is not
installed; a bilmod built without MPI must refuse to run under mpirun with a clear error."""
import glob
import json
import os
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import skipping  # noqa: E402

from sweep_testlib import BILMOD, GRID, GRID_RUNS, TINY, check_complete, comparable, fail, run, summary, sweep, tempdir


def main():
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        skipping.skip("mpirun not installed (Debian: openmpi-bin)")
    # OpenMPI itself leaks and races by the sanitizers' standards (its own allocations, progress threads): under
    # ASan/TSan builds this test would test OpenMPI, so it runs on the plain build only.
    linked = subprocess.run(["ldd", BILMOD], capture_output=True, text=True).stdout
    if "libasan" in linked or "libtsan" in linked:
        skipping.skip("sanitizer build (OpenMPI's own leaks and races would be reported)", setup_installs_it=False)
    work = tempdir()
    local, distributed = os.path.join(work, "local"), os.path.join(work, "mpi")
    tracking_local, tracking_mpi = os.path.join(work, "tracking_local"), os.path.join(work, "tracking_mpi")
    run([BILMOD, "sweep", *GRID, *TINY, "--tracking-dir", tracking_local, "--project", "sweeptest", "--jobs", "2",
         "--name", "grid", "--output-dir", local])
    # Root in a container needs OpenMPI's consent; --oversubscribe lets 2 ranks share fewer cores in CI.
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    proc = run([mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2", BILMOD, "sweep", *GRID,
                *TINY, "--tracking-dir", tracking_mpi, "--project", "sweeptest", "--jobs", "1", "--name", "grid",
                "--output-dir", distributed], env=env, expect=None,
               timeout=600)
    if "built without MPI" in proc.stderr:
        fail("bilmod was built without MPI although mpirun is installed: install libopenmpi-dev and rebuild")
    if proc.returncode != 0:
        fail(f"mpirun sweep exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    a, b = summary(local), summary(distributed)
    check_complete(a["runs"], GRID_RUNS)
    check_complete(b["runs"], GRID_RUNS)
    mpi_rows = {r["run"]: r for r in b["runs"]}
    for x, y in ((x, mpi_rows[x["run"]]) for x in a["runs"]):
        if comparable(x) != comparable(y):
            fail(f"run {x['run']} differs under MPI:\n  local {comparable(x)}\n  mpi   {comparable(y)}")
    for key in ("name", "axes", "format", "format_version"):
        if a[key] != b[key]:
            fail(f"summary {key}: {a[key]} != {b[key]}")
    # Both ranks ran runs (the dispatcher's closing line: "runs per rank: 0:N 1:M").
    per_rank = [line for line in proc.stderr.splitlines() if "runs per rank:" in line]
    if not per_rank:
        fail(f"no 'runs per rank' line in the MPI sweep's output:\n{proc.stderr}")
    counts = dict(item.split(":") for item in per_rank[-1].split("runs per rank:")[1].split())
    if sorted(counts) != ["0", "1"] or any(int(n) == 0 for n in counts.values()) or sum(map(int, counts.values())) != 8:
        fail(f"runs were not spread over both ranks: {per_rank[-1]}")

    # Tracking: the same runs (by name), each in group "grid", with the same rows, in both stores.
    def tracked(folder, out_dir, summary_rows):
        """Per run name: its config (the sweep's own folders written as <out> and <tracking>, its creation time
        dropped), and its metrics rows as sorted (step, metrics JSON) (row id, timestamp, run id and log id dropped:
        they differ by nature; the order of a step's rows within a run is not part of the data)."""
        db = sqlite3.connect(os.path.join(folder, "sweeptest.db"))
        configs, run_ids = {}, {}
        for name, run_id, config in db.execute("SELECT run_name, run_id, config FROM configs"):
            config = config.replace(out_dir, "<out>").replace(folder, "<tracking>")
            configs[name] = {k: v for k, v in json.loads(config).items() if k != "_Created"}
            run_ids[name] = {run_id}
        metrics = {}
        for name, run_id, step, values in db.execute("SELECT run_name, run_id, step, metrics FROM metrics"):
            metrics.setdefault(name, []).append((step, json.dumps(json.loads(values), sort_keys=True)))
            run_ids.setdefault(name, set()).add(run_id)
        db.close()
        # The run ids differ between the stores, but within one they are the summary's, one per run.
        want = {"grid." + r["run"]: {r["run_id"]} for r in summary_rows}
        if run_ids != want:
            fail(f"{folder}: the runs' ids in the store are not those of the summary: {run_ids} vs {want}")
        return configs, {name: sorted(rows) for name, rows in metrics.items()}
    configs_a, metrics_a = tracked(tracking_local, local, a["runs"])
    configs_b, metrics_b = tracked(tracking_mpi, distributed, b["runs"])
    if sorted(configs_a) != sorted(configs_b) or len(configs_a) != 8 or sorted(metrics_a) != sorted(configs_a) \
            or sorted(metrics_b) != sorted(configs_b):
        fail(f"tracked runs differ: {sorted(configs_a)} vs {sorted(configs_b)} (with rows: {sorted(metrics_a)} vs "
             f"{sorted(metrics_b)})")
    if any(c["_Group"] != "grid" for c in list(configs_a.values()) + list(configs_b.values())):
        fail("a tracked run is not in the sweep's group")
    for name in sorted(configs_a):
        if configs_a[name] != configs_b[name]:
            differing = sorted(k for k in set(configs_a[name]) | set(configs_b[name])
                               if configs_a[name].get(k) != configs_b[name].get(k))
            fail(f"{name}: tracked config differs between SQLite and the inbox import in {differing}")
        if metrics_a[name] != metrics_b[name]:
            only_a = sorted(set(metrics_a[name]) - set(metrics_b[name]))
            only_b = sorted(set(metrics_b[name]) - set(metrics_a[name]))
            fail(f"{name}: tracked rows differ between SQLite and the inbox import ({len(metrics_a[name])} vs "
                 f"{len(metrics_b[name])} rows)\n  only in SQLite {only_a[:3]}\n  only in the import {only_b[:3]}")
    epochs_b = {name: sum('"epoch"' in values for _, values in rows) for name, rows in metrics_b.items()}
    if any(n != 151 for n in epochs_b.values()):
        fail(f"each run should have 151 evaluation rows (epochs 0..150): {epochs_b}")
    leftovers = glob.glob(os.path.join(tracking_mpi, "inbox", "*", "*"))
    if leftovers:
        fail(f"inbox files left after the import: {leftovers[:3]}")
    shutil.rmtree(work)
    print("OK: mpirun -np 2 summary == --jobs 2 summary; tracking via the inbox == direct SQLite")


if __name__ == "__main__":
    main()
