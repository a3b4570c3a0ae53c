"""bilmod against the PyTorch reference, side by side (issue 5). Run through bench/run.sh, which builds Release first.

For each configuration (P = 113, H = 100, AdamW, evaluation of all train and validation pairs every epoch):
  minibatch-1t    batch 128, train fraction 0.8, one thread on both sides
  minibatch-all   the same with every core
  fullbatch-1t    full batch, train fraction 0.3, one thread
  fullbatch-all   the same with every core
runs the PyTorch models (bench/torch_reference.py: the seed's dense nn.Bilinear, the gather version, factored and mlp
each written both as one-hot matmuls and as F.embedding lookups) and bilmod's (bilinear, factored, mlp), interleaved,
for several repetitions, and prints seconds per epoch (median, min, max over every timed epoch of every repetition) and
the ratios, each against the fastest PyTorch formulation measured (the seed's own dense code has its own row).

PyTorch must run on an optimised BLAS: before anything is timed, the BLAS that PyTorch's matmuls really call is read
from the process's memory map and printed in the header; on the netlib reference BLAS (Debian's libblas.so.3 with
nothing better installed, 7-15x slower at matmuls) the benchmark refuses to compare (exit 1; bench/run.sh installs
Debian's OpenBLAS first). The first epoch of each run is not timed (warm-up; for
bilmod it also holds the epoch-0 evaluation and checkpoint). bilmod's epochs are timed from its log file's timestamps
(one evaluation line per epoch), PyTorch's inside the script with time.perf_counter.

Never fails for slowness: it exits non-zero only when a run fails or PyTorch's BLAS is the reference one.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))

# bilmod model -> the PyTorch formulations of the same function; the ratio is taken against the fastest measured.
# The seed's own dense code is a row of its own ("the seed's code").
FORMULATIONS = {"bilinear": ["gather"], "factored": ["factored", "factored-embedding"], "mlp": ["mlp", "mlp-embedding"]}
LABELS = {"dense": "the seed's code: dense nn.Bilinear", "gather": "gather W[:, a, b]",
          "factored": "factored, one-hot matmul", "factored-embedding": "factored, F.embedding",
          "mlp": "mlp, one-hot matmul", "mlp-embedding": "mlp, F.embedding"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.environ.get("BILMOD"), help="bilmod binary (run.sh builds and passes it)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every run")
    ap.add_argument("--epochs", type=int, default=6, help="epochs per run (the first is warm-up)")
    ap.add_argument("--dense-epochs", type=int, default=2, help="epochs per run of the seed's slow dense code")
    ap.add_argument("--bilmod-epochs", type=int, default=30,
                    help="epochs per bilmod run: its epochs take milliseconds, so more of them steady the median "
                         "(with two threads a 10 ms epoch varies by several ms)")
    ap.add_argument("--dense-reps", type=int, default=1, help="repetitions of the dense code")
    ap.add_argument("--dense-configs", default="minibatch-1t,fullbatch-1t",
                    help="configurations that run the seed's dense code (it takes about a minute per epoch)")
    ap.add_argument("--mod-basis", type=int, default=113)
    ap.add_argument("--hidden-dim", type=int, default=100)
    ap.add_argument("--threads-all", type=int, default=os.cpu_count(), help="'every core'")
    ap.add_argument("--configs", default="minibatch-1t,minibatch-all,fullbatch-1t,fullbatch-all")
    ap.add_argument("--no-torch", action="store_true", help="bilmod only")
    ap.add_argument("--skip-dense", action="store_true", help="leave out the seed's dense code")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the test suite's smoke run)")
    ap.add_argument("--json", help="also write every measurement here")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.epochs, args.dense_epochs, args.dense_reps, args.bilmod_epochs = 1, 3, 2, 1, 3
        args.mod_basis, args.hidden_dim = 23, 16
        args.dense_configs = ",".join(CONFIGS)
    if not args.binary:
        ap.error("--binary (or $BILMOD) is required; bench/run.sh builds it")
    return args


CONFIGS = {
    "minibatch-1t": dict(full_batch=False, train_frac=0.8, all_threads=False),
    "minibatch-all": dict(full_batch=False, train_frac=0.8, all_threads=True),
    "fullbatch-1t": dict(full_batch=True, train_frac=0.3, all_threads=False),
    "fullbatch-all": dict(full_batch=True, train_frac=0.3, all_threads=True),
}


def run_child(cmd, env=None):
    """Runs cmd; returns (stdout, wall seconds, peak RSS in KiB of this child alone, its CPU seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return stdout, wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def run_torch(args, model, cfg, threads):
    epochs = args.dense_epochs if model == "dense" else args.epochs
    cmd = [sys.executable, os.path.join(HERE, "torch_reference.py"), "--model", model, "--mod-basis", str(args.mod_basis),
           "--hidden-dim", str(args.hidden_dim), "--train-frac", str(cfg["train_frac"]), "--epochs", str(epochs),
           "--threads", str(threads)]
    if cfg["full_batch"]:
        cmd.append("--full-batch")
    stdout, _, rss, _ = run_child(cmd, torch_env(threads))
    result = json.loads(stdout.strip().splitlines()[-1])
    seconds, cpu = result["epoch_seconds"], result["epoch_cpu_seconds"]
    drop = 1 if len(seconds) > 1 else 0
    return dict(epoch_seconds=seconds[drop:], epoch_cpu=statistics.median(cpu[drop:]), rss_kib=rss,
                final=result["final"], torch=result["torch"])


def torch_env(threads):
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                OPENBLAS_NUM_THREADS=str(threads))


def torch_blas():
    """Which BLAS PyTorch's matmuls call here (bench/torch_reference.py --blas-only reads its memory map)."""
    out, _, _, _ = run_child([sys.executable, os.path.join(HERE, "torch_reference.py"), "--blas-only"], torch_env(1))
    return json.loads(out.strip().splitlines()[-1])


def require_optimised_blas():
    """Exits (1) with one line where PyTorch would run on the reference BLAS; returns the header's description."""
    blas = torch_blas()
    libs = (os.path.realpath(blas["blas_libraries"][0]) + " runs sgemm_") if blas["blas_libraries"] else "none mapped"
    if blas["blas"] not in ("openblas", "mkl"):
        sys.exit(f"bench: PyTorch calls the {blas['blas']} BLAS ({libs}), not an optimised one: ratios against it "
                 "would mislead; install Debian's OpenBLAS (apt-get install libopenblas0-pthread; bench/run.sh does) "
                 "or pass --no-torch")
    return f"{'OpenBLAS' if blas['blas'] == 'openblas' else 'MKL'} ({libs})"


def run_bilmod(args, model, cfg, threads, workdir, epochs=None):
    epochs = epochs or args.bilmod_epochs
    log = os.path.join(workdir, "log.jsonl")
    if os.path.exists(log):
        os.remove(log)
    ckpt = os.path.join(workdir, "ckpt")
    shutil.rmtree(ckpt, ignore_errors=True)
    cmd = [args.binary, "train", "--model", model, "--mod-basis", str(args.mod_basis), "--hidden-dim",
           str(args.hidden_dim), "--train-frac", str(cfg["train_frac"]), "--epochs", str(epochs), "--threads",
           str(threads), "--checkpoint-dir", ckpt, "--checkpoint-every", "0", "--log-file", log, "--no-progress",
           "--no-track", "--log-level", "DEBUG"]  # DEBUG: every evaluation is a log line (INFO thins them)
    if cfg["full_batch"]:
        cmd.append("--full-batch")
    _, wall, rss, cpu = run_child(cmd, dict(os.environ, OMP_NUM_THREADS=str(threads)))
    stamps, final = {}, {}
    with open(log) as f:
        for line in f:
            row = json.loads(line)
            fields = row.get("fields", {})
            if "epoch" in fields and "val/loss" in fields:
                stamps[fields["epoch"]] = datetime.fromisoformat(row["time"]).timestamp()
                final = fields
    if len(stamps) != epochs + 1:
        sys.exit(f"bench: expected {epochs + 1} evaluation lines in {log}, found {len(stamps)}")
    # Epoch e spans evaluation e-1 to evaluation e; epoch 1 also holds checkpoint_epoch_0's write: not timed.
    seconds = [stamps[e] - stamps[e - 1] for e in range(2, epochs + 1)]
    return dict(epoch_seconds=seconds, rss_kib=rss, wall=wall, cpu=cpu,
                final={k: final.get(k) for k in ("train/loss", "train/accuracy", "val/loss", "val/accuracy")})


def machine_info(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    compiler = "?"
    cache = os.path.join(os.path.dirname(os.path.abspath(args.binary)), "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_CXX_COMPILER:"):
                    path = line.split("=", 1)[1].strip()
                    compiler = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return dict(cpu=cpu, cores=os.cpu_count(), kernel=platform.release(), python=platform.python_version(),
                bilmod=version, compiler=compiler)


def stats(samples):
    return statistics.median(samples), min(samples), max(samples)


def main():
    args = parse_args()
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"bench: unknown configuration {c!r} (known: {', '.join(CONFIGS)})")
    blas = "not run" if args.no_torch else require_optimised_blas()
    info = machine_info(args)
    load_before = os.getloadavg()
    torch_models = [] if args.no_torch else [m for m in ("dense", "gather", "factored", "factored-embedding", "mlp",
                                                         "mlp-embedding")
                                               if not (m == "dense" and args.skip_dense)]
    bilmod_models = ["bilinear", "factored", "mlp"]
    results = {}  # (config, impl, model) -> list of run results
    workdir = tempfile.mkdtemp(prefix="bilmod-bench-")
    try:
        for rep in range(args.reps):
            for c in configs:
                cfg = CONFIGS[c]
                threads = args.threads_all if cfg["all_threads"] else 1
                # Interleaved: each PyTorch model next to the bilmod model it is compared with.
                jobs = []
                for bm, tm in (("bilinear", "gather"), ("bilinear", "dense"), ("factored", "factored"),
                               ("factored", "factored-embedding"), ("mlp", "mlp"), ("mlp", "mlp-embedding")):
                    dense_here = c in args.dense_configs.split(",") and rep < args.dense_reps
                    if tm in torch_models and not (tm == "dense" and not dense_here):
                        jobs.append(("torch", tm))
                    if ("bilmod", bm) not in jobs:
                        jobs.append(("bilmod", bm))
                for impl, model in jobs:
                    if impl == "torch":
                        r = run_torch(args, model, cfg, threads)
                    else:
                        r = run_bilmod(args, model, cfg, threads, workdir)
                        # CPU time per epoch: the same run with one epoch cancels start-up, the epoch-0 evaluation
                        # and the checkpoints; robust where other jobs share the cores (wall time is not).
                        one = run_bilmod(args, model, cfg, threads, workdir, epochs=1)
                        r["epoch_cpu"] = max(0.0, (r["cpu"] - one["cpu"]) / (args.bilmod_epochs - 1))
                    results.setdefault((c, impl, model), []).append(r)
                    med = statistics.median(r["epoch_seconds"])
                    print(f"  rep {rep + 1}/{args.reps} {c:14s} {impl:6s} {model:18s} {med * 1e3:10.2f} ms/epoch "
                          f"rss {r['rss_kib'] / 1024:.0f} MiB", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = os.getloadavg()

    torch_version = next((r[0]["torch"] for (c, impl, m), r in results.items() if impl == "torch"), "not run")
    print(f"## bilmod benchmark: P = {args.mod_basis}, H = {args.hidden_dim}, AdamW, evaluation of all pairs every epoch\n")
    print(f"- machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"- versions: {info['bilmod']} ({info['compiler']}), PyTorch {torch_version}, Python {info['python']}")
    print(f"- blas: PyTorch's matmuls call {blas} (read from its memory map after a matmul)")
    print(f"- {args.reps} repetitions of {args.epochs} epochs for PyTorch ({args.bilmod_epochs} for bilmod; seed's dense "
          f"code: {args.dense_reps} x {args.dense_epochs}); the first epoch of each run is warm-up, not timed; "
          f"'all' = {args.threads_all} threads\n")
    print("| configuration | implementation | model | threads | s/epoch median | min | max | CPU s/epoch | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    summary, cpu_summary = {}, {}
    for (c, impl, model), runs in results.items():
        samples = [s for r in runs for s in r["epoch_seconds"]]
        med, lo, hi = stats(samples)
        summary[(c, impl, model)] = med
        cpu_summary[(c, impl, model)] = statistics.median(r["epoch_cpu"] for r in runs)
        threads = args.threads_all if CONFIGS[c]["all_threads"] else 1
        rss = max(r["rss_kib"] for r in runs) / 1024
        label = LABELS.get(model, model) if impl == "torch" else model
        print(f"| {c} | {'PyTorch' if impl == 'torch' else 'bilmod'} | {label} | {threads} | {med:.4g} | {lo:.4g} | "
              f"{hi:.4g} | {cpu_summary[(c, impl, model)]:.4g} | {rss:.0f} |")
    print("\n| configuration | bilmod model | vs PyTorch | speed-up, wall (median / median) | speed-up, CPU time |")
    print("| --- | --- | --- | --- | --- |")
    for c in configs:
        for bm, candidates in [("bilinear", ["dense"])] + list(FORMULATIONS.items()):
            measured = [tm for tm in candidates if (c, "torch", tm) in summary]
            if (c, "bilmod", bm) not in summary or not measured:
                continue
            tm = min(measured, key=lambda m: summary[(c, "torch", m)])  # the fastest PyTorch formulation
            label = LABELS[tm] if tm == "dense" else f"fastest measured: {LABELS[tm]}"
            # bilmod's CPU per epoch is a difference of two runs: under heavy load it can come out <= 0.
            cpu_bilmod = cpu_summary[(c, 'bilmod', bm)]
            cpu_ratio = f"{cpu_summary[(c, 'torch', tm)] / cpu_bilmod:.1f}x" if cpu_bilmod > 0 else "n/a (noise)"
            print(f"| {c} | {bm} | {label} | {summary[(c, 'torch', tm)] / summary[(c, 'bilmod', bm)]:.1f}x | "
                  f"{cpu_ratio} |")
    # PyTorch with every core against one: at these sizes it is often slower, and a ratio over it flatters bilmod.
    for one, many in (("minibatch-1t", "minibatch-all"), ("fullbatch-1t", "fullbatch-all")):
        for tm in torch_models:
            if (one, "torch", tm) in summary and (many, "torch", tm) in summary:
                gain = summary[(one, "torch", tm)] / summary[(many, "torch", tm)]
                verdict = "SLOWER with more threads than with one" if gain < 1 else "faster with more threads"
                print(f"| {many} vs {one} | PyTorch {LABELS[tm]} | {args.threads_all} threads vs 1 | {gain:.2f}x | "
                      f"{verdict} |")
    for one, many in (("minibatch-1t", "minibatch-all"), ("fullbatch-1t", "fullbatch-all")):
        for bm in bilmod_models:
            if (one, "bilmod", bm) in summary and (many, "bilmod", bm) in summary:
                print(f"| {many} vs {one} | {bm} | bilmod, {args.threads_all} threads vs 1 | "
                      f"{summary[(one, 'bilmod', bm)] / summary[(many, 'bilmod', bm)]:.2f}x | |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(info=info, blas=blas, args=vars(args), load=[load_before, load_after],
                           results=[dict(config=c, impl=i, model=m, runs=r) for (c, i, m), r in results.items()]),
                      f, indent=1)


if __name__ == "__main__":
    main()
