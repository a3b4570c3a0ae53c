"""Every command that grows with P estimates its memory before any work and refuses, with one line and exit 2,
when the estimate exceeds what it may use (--max-memory here, MemAvailable by default): the line says how much
it needs, how much there is and what to change, and nothing is written. --max-memory above the estimate runs the
command, also beyond the machine's MemAvailable (it is an override). Each estimate covers the peak memory the
command then really uses (measured here as the child's maximum resident set).
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from checklist import BILMOD, check, finish  # noqa: E402

NEEDS = re.compile(r"needs about ([0-9.]+) (KB|MB|GB) of memory \((.+)\), but ([0-9.]+) (KB|MB|GB) is available "
                   r"\(--max-memory\): (.+), or --max-memory (\d+[MG]) to run anyway$")
UNIT = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def run(*args, cwd=None):
    return subprocess.run([BILMOD, *args], capture_output=True, text=True, cwd=cwd)


def peak_rss(*args, cwd=None):
    """Runs bilmod; returns (exit code, its maximum resident set in bytes)."""
    p = subprocess.Popen([BILMOD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    _, status, usage = os.wait4(p.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024


def refusal(name, args, cwd, written):
    """args must be refused with --max-memory 1M; returns the estimate in bytes (0 if the line did not parse)."""
    before = sorted(os.listdir(cwd))
    r = run(*args, "--max-memory", "1M", cwd=cwd)
    lines = r.stderr.splitlines()
    check(f"{name}: refused with exit 2", r.returncode == 2, f"exit {r.returncode}, stderr {r.stderr!r}")
    check(f"{name}: one line on stderr, nothing on stdout", len(lines) == 1 and r.stdout == "", repr(r.stderr + r.stdout))
    m = NEEDS.search(lines[0]) if lines else None
    check(f"{name}: the line says what it needs, what there is and what to change", m is not None, repr(r.stderr))
    check(f"{name}: the line names the command", bool(lines) and lines[0].startswith(f"bilmod {args[0]}: error: "),
          repr(r.stderr))
    after = sorted(os.listdir(cwd))
    check(f"{name}: nothing written", after == before and not any(os.path.exists(os.path.join(cwd, w)) for w in written),
          f"{before} -> {after}")
    if not m:
        return 0
    check(f"{name}: --max-memory read as 1 MB", m.group(4) == "1" and m.group(5) == "MB", m.group(0))
    return float(m.group(1)) * UNIT[m.group(2)]


with tempfile.TemporaryDirectory() as tmp:
    ckpt_dir = os.path.join(tmp, "run")
    common = ["--model", "factored", "--mod-basis", "59", "--hidden-dim", "32", "--train-frac", "0.5", "--no-track",
              "--no-progress"]
    # train: refused before the checkpoint folder exists.
    est_train = refusal("train", ["train", *common, "--epochs", "3", "--checkpoint-dir", "run"], tmp, ["run"])
    r = run("train", *common, "--epochs", "3", "--checkpoint-every", "1", "--checkpoint-dir", ckpt_dir)
    check("train: runs without --max-memory", r.returncode == 0, r.stderr[-500:])
    ckpt = os.path.join(ckpt_dir, "checkpoint_epoch_3.safetensors")

    est_eval = refusal("evaluate", ["evaluate", ckpt, "--output", "logits.safetensors"], tmp, ["logits.safetensors"])
    est_analyze = refusal("analyze", ["analyze", ckpt, "--json"], tmp, [])
    est_over = refusal("analyze --over-training", ["analyze", "--over-training", ckpt_dir, "--output-dir", "figs"], tmp,
                       ["figs/progress_measures.png"])
    est_vis = refusal("visualize-checkpoint", ["visualize-checkpoint", ckpt, "--output-dir", "vis"], tmp, ["vis"])
    est_data = refusal("dataset", ["dataset", "--mod-basis", "59", "--output", "d.safetensors"], tmp, ["d.safetensors"])

    r = run("analyze", ckpt, "--max-memory", "lots")
    check("a bad --max-memory is a usage error", r.returncode == 2 and "--max-memory: 'lots' is not a memory size" in r.stderr,
          r.stderr)

    # An override above MemAvailable runs: it replaces what the machine reports.
    r = run("analyze", ckpt, "--json", "--max-memory", "64T")
    check("--max-memory 64T (beyond MemAvailable) runs", r.returncode == 0, r.stderr)

    # The estimates cover what the commands really take.
    for name, estimate, args in [
        ("train", est_train, ["train", *common, "--epochs", "3", "--checkpoint-dir", os.path.join(tmp, "again")]),
        ("evaluate", est_eval, ["evaluate", ckpt, "--output", os.path.join(tmp, "logits.safetensors")]),
        ("analyze", est_analyze, ["analyze", ckpt, "--json"]),
        ("visualize-checkpoint", est_vis, ["visualize-checkpoint", ckpt, "--output-dir", os.path.join(tmp, "vis")]),
        ("dataset", est_data, ["dataset", "--mod-basis", "59", "--output", os.path.join(tmp, "d.safetensors")]),
    ]:
        code, peak = peak_rss(*args)
        check(f"{name}: runs", code == 0, f"exit {code}")
        check(f"{name}: estimate {estimate / 2**20:.0f} MB covers the measured peak {peak / 2**20:.0f} MB",
              estimate >= peak, "")
    code, peak = peak_rss("analyze", "--over-training", ckpt_dir, "--output-dir", os.path.join(tmp, "figs"))
    check(f"analyze --over-training: estimate {est_over / 2**20:.0f} MB covers the measured peak {peak / 2**20:.0f} MB",
          code == 0 and est_over >= peak, f"exit {code}")

finish()
