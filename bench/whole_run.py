"""Whole runs side by side (issue 13): a complete bilmod training run against the same run in PyTorch (OpenBLAS), one
thread each, wall and CPU time, and how the epochs' cost moves from the start of the run to its end.

  factored   P = 113, train fraction 0.3, the seed's other defaults (batch 128, AdamW lr 3e-3, wd 0.5), 3000 epochs:
             it groks, and its late phase of tiny weights (subnormal floats) is where a speed trap would show
  seed       the seed's defaults: bilinear, train fraction 0.8, 2000 epochs

PyTorch runs bench/torch_reference.py with the fastest formulation of each model measured by bench/bench.py
(factored: F.embedding lookups; the seed's model: the gather W[:, a, b]), torch.set_num_threads(1) and
OPENBLAS_NUM_THREADS=1; it refuses to run on the reference BLAS. Both evaluate every train and validation pair every
epoch; bilmod also writes its checkpoints (every 100 epochs, its default), which PyTorch does not.
--torch-epochs N times only N epochs of a PyTorch run and scales its time to the whole run (its epochs cost the same
from the first to the last: the table says so where it is used). Never fails for slowness.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import require_optimised_blas, run_child, torch_env  # noqa: E402

RUNS = {
    "factored": dict(bilmod=["--model", "factored", "--train-frac", "0.3"], torch_model="factored-embedding",
                     train_frac=0.3, epochs=3000),
    "seed": dict(bilmod=["--model", "bilinear"], torch_model="gather", train_frac=0.8, epochs=2000),
}


def phases(seconds):
    """(median of the first tenth of the epochs, median of the last tenth)."""
    tenth = max(1, len(seconds) // 10)
    return statistics.median(seconds[:tenth]), statistics.median(seconds[-tenth:])


def bilmod_run(args, run, workdir):
    spec = RUNS[run]
    log = os.path.join(workdir, f"{run}.jsonl")
    ckpt = os.path.join(workdir, f"{run}-ckpt")
    shutil.rmtree(ckpt, ignore_errors=True)
    epochs = args.epochs or spec["epochs"]
    cmd = [args.binary, "train", *spec["bilmod"], "--epochs", str(epochs), "--threads", "1", "--checkpoint-dir", ckpt,
           "--log-file", log, "--no-progress", "--no-track", "--log-level", "DEBUG"]
    _, wall, rss, cpu = run_child(cmd, dict(os.environ, OMP_NUM_THREADS="1"))
    stamps, final = {}, {}
    with open(log) as f:
        for line in f:
            row = json.loads(line)
            fields = row.get("fields", {})
            if "epoch" in fields and "val/loss" in fields:
                stamps[fields["epoch"]] = datetime.fromisoformat(row["time"]).timestamp()
                final = fields
    seconds = [stamps[e] - stamps[e - 1] for e in range(2, epochs + 1) if e in stamps and e - 1 in stamps]
    early, late = phases(seconds)
    return dict(wall=wall, cpu=cpu, rss_kib=rss, early=early, late=late, epochs=epochs, timed_epochs=epochs,
                val_acc=final.get("val/accuracy"))


def torch_run(args, run):
    spec = RUNS[run]
    epochs = args.epochs or spec["epochs"]
    timed = min(epochs, args.torch_epochs) if args.torch_epochs else epochs
    cmd = [sys.executable, os.path.join(HERE, "torch_reference.py"), "--model", spec["torch_model"], "--train-frac",
           str(spec["train_frac"]), "--epochs", str(timed), "--threads", "1"]
    stdout, wall, rss, cpu = run_child(cmd, torch_env(1))
    result = json.loads(stdout.strip().splitlines()[-1])
    early, late = phases(result["epoch_seconds"][1:] or result["epoch_seconds"])
    scale = epochs / timed
    return dict(wall=wall * scale, cpu=cpu * scale, rss_kib=rss, early=early, late=late, epochs=epochs,
                timed_epochs=timed, val_acc=result["final"]["val_acc"], model=spec["torch_model"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.environ.get("BILMOD"), help="bilmod binary (a Release build)")
    ap.add_argument("--runs", default="factored,seed")
    ap.add_argument("--epochs", type=int, help="every run this long instead of its own length (smoke runs)")
    ap.add_argument("--torch-epochs", type=int, help="time this many PyTorch epochs and scale to the whole run")
    ap.add_argument("--no-torch", action="store_true", help="bilmod only")
    args = ap.parse_args()
    if not args.binary:
        ap.error("--binary (or $BILMOD) is required")
    runs = [r for r in args.runs.split(",") if r]
    for r in runs:
        if r not in RUNS:
            sys.exit(f"whole_run: unknown run {r!r} (known: {', '.join(RUNS)})")
    blas = "not run" if args.no_torch else require_optimised_blas()
    load_before = os.getloadavg()
    workdir = tempfile.mkdtemp(prefix="bilmod-whole-run-")
    rows = []
    try:
        for r in runs:
            b = bilmod_run(args, r, workdir)
            print(f"  {r} bilmod: wall {b['wall']:.1f} s, CPU {b['cpu']:.1f} s", file=sys.stderr, flush=True)
            t = None if args.no_torch else torch_run(args, r)
            if t:
                print(f"  {r} PyTorch: wall {t['wall']:.1f} s, CPU {t['cpu']:.1f} s", file=sys.stderr, flush=True)
            rows.append((r, b, t))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"## Whole runs, one thread each; PyTorch on {blas}")
    print(f"- load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (other jobs on the cores inflate wall "
          "time; CPU time is the steadier figure)\n")
    print("| run | implementation | epochs | wall s | CPU s | epoch s, first tenth | epoch s, last tenth | last / first |"
          " val accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r, b, t in rows:
        for name, x in (("bilmod", b), (f"PyTorch ({t['model']})" if t else "", t)):
            if not x:
                continue
            scaled = "" if x["timed_epochs"] == x["epochs"] else f" (times scaled from {x['timed_epochs']})"
            print(f"| {r} | {name} | {x['epochs']}{scaled} | {x['wall']:.1f} | {x['cpu']:.1f} | {x['early']:.4f} | "
                  f"{x['late']:.4f} | {x['late'] / x['early']:.2f}x | {x['val_acc']} |")
    print("\n| run | bilmod vs PyTorch, wall | CPU time |")
    print("| --- | --- | --- |")
    for r, b, t in rows:
        if t:
            print(f"| {r} | {t['wall'] / b['wall']:.1f}x | {t['cpu'] / b['cpu']:.1f}x |")


if __name__ == "__main__":
    main()
