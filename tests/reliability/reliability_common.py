"""Helpers of the reliability tests (issue 6): run bilmod, read safetensors with numpy, snapshot a folder.
Only numpy is needed (no torch), so the tests start fast under the sanitizer builds too."""
import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import skipping  # noqa: E402 (tests/skipping.py)

BILMOD = os.environ.get("BILMOD", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bilmod"))
_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """(tensors: name -> np.ndarray, metadata: dict); raises ValueError on anything malformed."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header runs past the end")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base, end_of_data = 8 + n, 0
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        end_of_data = max(end_of_data, end)
        arr = np.frombuffer(data[base + begin:base + end], dtype=_DTYPES[info["dtype"]])
        tensors[name] = arr.reshape(info["shape"]).copy()
    if base + end_of_data != len(data):
        raise ValueError(f"{path}: {len(data) - base - end_of_data} bytes after the last tensor")
    return tensors, meta


def tracked_steps(db, run_id):
    """{step: number of rows holding train/batch_loss} of one run in a trackio store."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT step, metrics FROM metrics WHERE run_id = ?", (run_id,)).fetchall()
    finally:
        con.close()
    steps = {}
    for step, metrics in rows:
        if "train/batch_loss" in json.loads(metrics):
            steps[step] = steps.get(step, 0) + 1
    return steps


def differing_tensors(x, y):
    """Names of tensors that differ in any bit, or exist in only one of the two."""
    return sorted(k for k in set(x) | set(y) if k not in x or k not in y or x[k].tobytes() != y[k].tobytes())


def checkpoints(d):
    """{epoch: path} of the checkpoint files in folder d."""
    out = {}
    for name in os.listdir(d):
        if name.startswith("checkpoint_epoch_") and name.endswith(".safetensors"):
            out[int(name[len("checkpoint_epoch_"):-len(".safetensors")])] = os.path.join(d, name)
    return out


def temporaries(d):
    """Files the atomic writer leaves only while writing (or when killed mid-write)."""
    return sorted(n for n in os.listdir(d) if ".tmp." in n or n.startswith(".bilmod-write-probe"))


def run(*args, check=None, timeout=600, **kwargs):
    """Runs bilmod; returns CompletedProcess with text output. check: the exit code required, if any."""
    cmd = [BILMOD, *[str(a) for a in args]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check is not None and p.returncode != check:
        sys.stderr.write(p.stderr[-3000:])
        raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}, expected {check}")
    return p


def uninterrupted_run(flags, epochs):
    """The reference the interrupted runs must reproduce: `bilmod train flags` run whole in a fresh folder.
    Returns (the last checkpoint's tensors, its metadata, the run's seconds)."""
    with tempdir() as ref:
        t0 = time.monotonic()
        run("train", *flags, "--checkpoint-dir", ref, check=0)
        seconds = time.monotonic() - t0
        reference, meta = read_safetensors(checkpoints(ref)[epochs])
    print(f"uninterrupted run: {seconds:.2f} s")
    return reference, meta, seconds


def snapshot(d):
    """Every path under d with its type, size, mode, mtime and content hash: compare before and after."""
    state = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            # A folder's mtime moves when a file is created and removed in it (the writability probe): only
            # what it holds counts, and that is compared entry by entry.
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            state[os.path.relpath(path, d)] = (st.st_mode, 0 if is_dir else st.st_size,
                                               0 if is_dir else st.st_mtime_ns, digest)
    return state


def snapshot_diff(before, after):
    lines = [f"new: {k}" for k in sorted(set(after) - set(before))]
    lines += [f"gone: {k}" for k in sorted(set(before) - set(after))]
    lines += [f"changed: {k}" for k in sorted(set(before) & set(after)) if before[k] != after[k]]
    return lines


@contextmanager
def tempdir():
    d = tempfile.mkdtemp(prefix="bilmod_reliability_")
    try:
        yield d
    finally:
        for root, dirs, _ in os.walk(d):  # tests make folders read-only; give them back before removing
            for name in dirs:
                try:
                    os.chmod(os.path.join(root, name), 0o755)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)


class Failures:
    """Collects failed checks, prints every check, and fails the process at the end if any failed."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        return ok

    def finish(self):
        print(f"{self.passed} checks passed, {len(self.failed)} failed")
        if self.failed:
            for f in self.failed:
                print("FAILED: " + f)
            sys.exit(1)
        if self.passed == 0:
            print("FAILED: no check ran")
            sys.exit(1)
        sys.exit(skipping.exit_code(0))
