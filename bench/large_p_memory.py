#!/usr/bin/env python3
"""Peak memory and time of every command at large P: the README's table "Large P: memory and time".

    python3 bench/large_p_memory.py [--binary build/bilmod] [--model factored] [--hidden-dim 256] [P ...]

For each P it trains a checkpoint with --epochs 1 (the analysis reads a model of that shape; how well it learnt plays
no part in the cost), then runs train, evaluate, analyze, analyze --over-training (the run's epoch 0 and 1 checkpoints),
visualize-checkpoint and evaluate --output one at a time, each in its own process, and prints the peak resident set
(the child's ru_maxrss from wait4), the wall time and the command's own estimate (the figure in its refusal line at
--max-memory 1M) as a Markdown table. Runs use OMP_NUM_THREADS=2. A command whose estimate exceeds MemAvailable is
reported as refused (the figure it gives) and not run. Wall times depend on what else the machine runs."""
import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--binary", default="./build/bilmod")
parser.add_argument("--model", default="factored")
parser.add_argument("--hidden-dim", type=int, default=256)
parser.add_argument("--keep", help="keep the runs' folders under this folder")
parser.add_argument("moduli", nargs="*", type=int, default=[113, 499, 997, 2003])
args = parser.parse_args()
ENV = dict(os.environ, OMP_NUM_THREADS="2")
UNIT = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def estimate(cmd):
    r = subprocess.run([args.binary, *cmd, "--max-memory", "1M"], capture_output=True, text=True, env=ENV)
    m = re.search(r"needs about ([0-9.]+) (KB|MB|GB)", r.stderr)
    return float(m.group(1)) * UNIT[m.group(2)] if m else None


def measure(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen([args.binary, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().decode()
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024, time.perf_counter() - t0, err


def size(b):
    return f"{b / 2**30:.2f} GB" if b >= 2**30 else f"{b / 2**20:.0f} MB"


root = args.keep or tempfile.mkdtemp(prefix="bilmod-large-p-")
print(f"| command | P | peak memory | time | estimate |")
print(f"| --- | --- | --- | --- | --- |")
for P in args.moduli:
    run = os.path.join(root, f"{args.model}_p{P}")
    shutil.rmtree(run, ignore_errors=True)
    ckpt = os.path.join(run, "checkpoint_epoch_1.safetensors")
    train = ["train", "--model", args.model, "--mod-basis", str(P), "--hidden-dim", str(args.hidden_dim), "--train-frac", "0.3",
             "--epochs", "1", "--checkpoint-dir", run, "--no-track", "--no-progress"]
    commands = [("train --epochs 1", train), ("evaluate", ["evaluate", ckpt]), ("analyze", ["analyze", ckpt, "--json"]),
                ("analyze --over-training", ["analyze", "--over-training", run, "--output-dir", os.path.join(run, "progress")]),
                ("visualize-checkpoint", ["visualize-checkpoint", ckpt, "--output-dir", os.path.join(run, "figures")]),
                ("evaluate --output", ["evaluate", ckpt, "--output", os.path.join(run, "logits.safetensors")])]
    for name, cmd in commands:
        if name == "evaluate --output" and 4 * P ** 3 > 8 << 30:
            print(f"| `{name}` | {P} | not run: the file alone would be {size(4 * P ** 3)} | | |", flush=True)
            continue
        est = estimate(cmd)
        code, peak, wall, err = measure(cmd)
        if code == 2 and "needs about" in err:
            print(f"| `{name}` | {P} | refused: {err.strip().split('error: ')[-1]} | | {size(est) if est else '?'} |", flush=True)
            if name.startswith("train"):
                break
            continue
        shown = f"{size(peak)}" if code == 0 else f"exit {code}: {err.strip()[-200:]}"
        print(f"| `{name}` | {P} | {shown} | {wall:.1f} s | {size(est) if est else '?'} |", flush=True)
        if name.startswith("evaluate --output"):
            os.remove(os.path.join(run, "logits.safetensors"))  # 4 P^3 bytes: 32 GB at P = 2003
    if not args.keep:
        shutil.rmtree(run, ignore_errors=True)
