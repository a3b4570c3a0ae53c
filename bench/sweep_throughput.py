#!/usr/bin/env python3
"""Throughput of `bilmod sweep --jobs 2` against the same 8 runs one after another (the issue's >= 1.8x on 2 cores).

    python3 bench/sweep_throughput.py [path/to/bilmod]

Every run is single-threaded (--threads 1) in all three cases, so the speed-up is what running runs side by side buys.
Besides wall time it reports the CPU time (user + system) of everything each case started: if two runs side by side
cost no more CPU than one after another, the wall-time speed-up on two otherwise idle cores is that of the CPU the
machine can give. Measure wall time on an idle machine: on a shared one, other work (and Linux's per-session
autogroup scheduling, which gives a whole session one share however many processes it runs) decides how much CPU
the sweep gets. Exits 1 when --jobs 2 is under 1.8x the sequential sweep's wall time."""
import os
import resource
import subprocess
import sys
import tempfile
import time

BILMOD = sys.argv[1] if len(sys.argv) > 1 else "./build/bilmod"
SETTINGS = ["--model", "factored", "--mod-basis", "97", "--hidden-dim", "100", "--train-frac", "0.5", "--epochs", "40",
            "--checkpoint-every", "0", "--no-track"]
GRID = ["--grid", "weight-decay=0.3,1", "--seeds", "0-3"]


def measure(commands):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    with tempfile.TemporaryDirectory() as work:
        alone = [[BILMOD, "train", *SETTINGS, "--weight-decay", wd, "--seed", str(seed), "--threads", "1", "--no-progress",
                  "--checkpoint-dir", os.path.join(work, f"alone_{wd}_{seed}")] for wd in ("0.3", "1") for seed in range(4)]
        sweep = lambda jobs: [[BILMOD, "sweep", *GRID, *SETTINGS, "--jobs", str(jobs), "--output-dir",
                               os.path.join(work, f"jobs{jobs}")]]
        load = open("/proc/loadavg").read().split()[0]
        results = {"8 x bilmod train --threads 1, one after another": measure(alone),
                   "bilmod sweep --jobs 1 (8 runs)": measure(sweep(1)),
                   "bilmod sweep --jobs 2 (8 runs)": measure(sweep(2))}
    print(f"cores {os.cpu_count()}, load average at the start {load}")
    for name, (wall, cpu) in results.items():
        print(f"{name:50s} wall {wall:7.2f} s   cpu {cpu:7.2f} s")
    (_, (w_alone, c_alone)), (_, (w1, c1)), (_, (w2, c2)) = results.items()
    print(f"wall speed-up --jobs 2 vs --jobs 1: {w1 / w2:.2f}x (vs one after another {w_alone / w2:.2f}x)")
    print(f"cpu of --jobs 2 / --jobs 1: {c2 / c1:.2f} (1.00: running side by side costs nothing extra); "
          f"sweep overhead vs plain train: {c1 - c_alone:+.2f} s cpu over 8 runs")
    sys.exit(0 if w1 / w2 >= 1.8 else 1)


if __name__ == "__main__":
    main()
