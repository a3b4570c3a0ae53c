"""Shared helpers of the sweep tests (tests/cli/test_sweep*.py): a tiny grid that runs in seconds, reading
summaries and checkpoints, and comparing runs while ignoring what is by nature different between two runs of the
same computation (wall time, the random run id)."""
import json
import os
import struct
import subprocess
import sys
import tempfile

BILMOD = os.environ.get("BILMOD", "bilmod")

# factored at P = 23 groks in about 115 epochs at weight decay 1 and 70 % train (about a second per run), so the
# milestone epochs are real numbers, not all empty; weight decay 0.3 or 40 % train never gets there in 150 epochs.
TINY = ["--model", "factored", "--mod-basis", "23", "--hidden-dim", "64", "--learning-rate", "0.01",
        "--epochs", "150", "--checkpoint-every", "25"]
GRID = ["--grid", "weight-decay=0.3,1", "--grid", "train-frac=0.4,0.7", "--seeds", "0-1"]
# The names of GRID's 8 runs (weight decay x train fraction x seed), for check_complete.
GRID_RUNS = [f"weight-decay={wd}_train-frac={tf}_seed={s}"
             for wd in ("0.3", "1") for tf in ("0.4", "0.7") for s in (0, 1)]
# Columns that legitimately differ between two executions of the same runs.
NONDETERMINISTIC = {"wall_seconds", "run_id"}


def without(args, flag):
    """args with `flag` and its value removed (to sweep a setting TINY fixes)."""
    i = args.index(flag)
    return args[:i] + args[i + 2:]


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def run(args, env=None, expect=0, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, env=env, **kwargs)
    if expect is not None and proc.returncode != expect:
        fail(f"{' '.join(args)} exited {proc.returncode}, expected {expect}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def sweep(out_dir, *extra, expect=0, env=None):
    return run([BILMOD, "sweep", *GRID, *TINY, "--no-track", "--output-dir", out_dir, *extra], env=env, expect=expect)


def summary(out_dir):
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f)


def comparable(row):
    return {k: v for k, v in row.items() if k not in NONDETERMINISTIC}


def checkpoint_metadata(path):
    """The __metadata__ of a safetensors file (docs/FORMATS.md: 8-byte little-endian header length, then JSON)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def check_complete(rows, expected_runs):
    keys = [r["run"] for r in rows]
    if len(keys) != len(set(keys)):
        fail(f"duplicated runs in the summary: {keys}")
    if sorted(keys) != sorted(expected_runs):
        fail(f"summary runs {sorted(keys)} != expected {sorted(expected_runs)}")
    for r in rows:
        if r["status"] != "finished":
            fail(f"run {r['run']} is {r['status']}: {r['message']}")


def tempdir():
    return tempfile.mkdtemp(prefix="bilmod_sweep_test_")
