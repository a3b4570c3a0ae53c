"""A sweep killed halfway (SIGKILL to the sweep itself: no chance to clean up) and run again completes with no
duplicated and no missing run, and every run ends exactly as in a sweep that was never interrupted: the
interrupted runs resume from their checkpoints (keeping their run id) instead of starting over. A sweep stopped
with SIGTERM (a batch system's time limit) exits 143 with no run counted as failed, and resumes the same way."""
import glob
import json
import os
import signal
import subprocess
import time

from sweep_testlib import (BILMOD, GRID, GRID_RUNS, TINY, check_complete, checkpoint_metadata, comparable, fail,
                           summary, sweep, tempdir)


def children_of(pid):
    kids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return kids


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def interrupt_halfway(out, stop_signal):
    """Starts the sweep, sends stop_signal once two runs have finished and another is training; returns the
    process (waited for) and the worker pids it had then."""
    args = [BILMOD, "sweep", *GRID, *TINY, "--no-track", "--jobs", "2", "--name", "grid", "--output-dir", out]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    def in_flight():
        """Runs that have started training (checkpoint_epoch_0 written) and are less than half done (no
        checkpoint_epoch_75), so that the kill lands before they can finish even on a loaded machine."""
        begun = glob.glob(os.path.join(out, "*", "checkpoints", "checkpoint_epoch_0.safetensors"))
        return [p for p in begun if not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(p)), "result.json"))
                and not os.path.exists(os.path.join(os.path.dirname(p), "checkpoint_epoch_75.safetensors"))]
    # Halfway: two runs finished and another one training.
    while len(glob.glob(os.path.join(out, "*", "result.json"))) < 2 or not in_flight():
        if proc.poll() is not None or time.time() > deadline:
            fail("the sweep ended (or stalled) before it could be killed halfway")
        time.sleep(0.005)
    workers = children_of(proc.pid)
    os.kill(proc.pid, stop_signal)
    _, proc.error_text = proc.communicate()
    return proc, workers


def paired(reference, rows):
    """(reference row, row) of each run, once the rows are exactly GRID's runs, each once and finished (else fail):
    compared by run, not by position, so a missing, duplicated or reordered run cannot pair two different runs."""
    check_complete(rows, GRID_RUNS)
    by_run = {r["run"]: r for r in rows}
    return [(x, by_run[x["run"]]) for x in reference]


def main():
    work = tempdir()
    reference, out = os.path.join(work, "reference"), os.path.join(work, "interrupted")
    sweep(reference, "--jobs", "2", "--name", "grid")
    a = summary(reference)["runs"]
    check_complete(a, GRID_RUNS)

    # SIGTERM: the sweep passes it on, every worker checkpoints, the summary says interrupted/pending, exit 143.
    stopped = os.path.join(work, "stopped")
    proc, _ = interrupt_halfway(stopped, signal.SIGTERM)
    if proc.returncode != 143:
        fail(f"a sweep stopped by SIGTERM exited {proc.returncode}, not 143: {proc.error_text}")
    statuses = [r["status"] for r in summary(stopped)["runs"]]
    if "failed" in statuses or "finished" not in statuses or statuses.count("finished") == 8:
        fail(f"after SIGTERM the summary should hold finished and interrupted/pending runs, no failed one: {statuses}")
    sweep(stopped, "--jobs", "2", "--name", "grid")
    for x, y in paired(a, summary(stopped)["runs"]):
        if comparable(x) != comparable(y):
            fail(f"run {x['run']} differs after SIGTERM and a re-run")

    # SIGKILL: no chance to clean up; the kernel sends the workers SIGTERM (their parent-death signal).
    proc, workers = interrupt_halfway(out, signal.SIGKILL)
    deadline = time.time() + 60
    while any(alive(w) for w in workers):
        if time.time() > deadline:
            fail(f"workers {workers} outlived their killed sweep")
        time.sleep(0.05)

    finished = {os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(out, "*", "result.json"))}
    started = {os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(out, "*", "checkpoints"))}
    cut_short = started - finished
    if not finished or len(finished) == 8:
        fail(f"the kill did not land halfway: {len(finished)} of 8 runs had finished")
    if not cut_short:
        fail("no run was cut short by the kill, so resuming is not tested")
    run_ids = {}
    for key in cut_short:
        latest = max(glob.glob(os.path.join(out, key, "checkpoints", "checkpoint_epoch_*.safetensors")),
                     key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))
        run_ids[key] = checkpoint_metadata(latest)["run_id"]

    sweep(out, "--jobs", "2", "--name", "grid")
    b = summary(out)["runs"]
    for x, y in paired(a, b):
        if comparable(x) != comparable(y):
            fail(f"run {x['run']} differs after the interruption:\n  reference {comparable(x)}\n  resumed   {comparable(y)}")
        if y["run"] in run_ids and y["run_id"] != run_ids[y["run"]]:
            fail(f"run {y['run']} restarted with a new run id instead of resuming")
    # No run trained to its end twice: each worker log holds one "finished" line.
    for r in b:
        with open(os.path.join(out, r["run"], "output.log")) as f:
            ends = sum(" finished 150 epochs" in line for line in f)
        if ends != 1:
            fail(f"run {r['run']} finished {ends} times")
    print(f"OK: killed with {len(finished)}/8 finished and {len(cut_short)} cut short; re-run completed identically")


if __name__ == "__main__":
    main()
