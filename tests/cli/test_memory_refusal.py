"""Every command that grows with P estimates its memory before any work and refuses, with one line and exit 2,
when the estimate exceeds what it may use (--max-memory here, MemAvailable by default): the line says how much
it needs, how much there is and what to change, and nothing is written. --max-memory above the estimate runs the
command, also beyond the machine's MemAvailable (it is an override). Each estimate covers the peak memory the
command then really uses (measured here as the child's maximum resident set): at P = 59, where the 64 MB allowed for
the process itself covers most of it, and at sizes where the terms that grow with P and H dominate (a bilinear
checkpoint of 186 MB; a factored P = 499, H = 256 model, whose class spectra take the low-rank path).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from checklist import BILMOD, check, finish  # noqa: E402
import skipping  # noqa: E402

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

    # The estimates cover what the commands really take. Sanitizer builds hold shadow memory and redzones beside every
    # buffer, which the estimates do not describe: there the commands run, and their peaks are not compared.
    linked = subprocess.run(["ldd", BILMOD], capture_output=True, text=True).stdout
    sanitized = "libasan" in linked or "libtsan" in linked
    if sanitized:
        skipping.skipped("estimates against measured peaks: sanitizer build", setup_installs_it=False)
    for name, estimate, args in [
        ("train", est_train, ["train", *common, "--epochs", "3", "--checkpoint-dir", os.path.join(tmp, "again")]),
        ("evaluate", est_eval, ["evaluate", ckpt, "--output", os.path.join(tmp, "logits.safetensors")]),
        ("analyze", est_analyze, ["analyze", ckpt, "--json"]),
        ("visualize-checkpoint", est_vis, ["visualize-checkpoint", ckpt, "--output-dir", os.path.join(tmp, "vis")]),
        ("dataset", est_data, ["dataset", "--mod-basis", "59", "--output", os.path.join(tmp, "d.safetensors")]),
    ]:
        code, peak = peak_rss(*args)
        check(f"{name}: runs", code == 0, f"exit {code}")
        if not sanitized:
            check(f"{name}: estimate {estimate / 2**20:.0f} MB covers the measured peak {peak / 2**20:.0f} MB",
                  estimate >= peak, "")
    code, peak = peak_rss("analyze", "--over-training", ckpt_dir, "--output-dir", os.path.join(tmp, "figs"))
    check("analyze --over-training: runs", code == 0, f"exit {code}")
    if not sanitized:
        check(f"analyze --over-training: estimate {est_over / 2**20:.0f} MB covers the measured peak "
              f"{peak / 2**20:.0f} MB", est_over >= peak, "")

    # Larger: the estimates' terms in P and H, not the process's own 64 MB, must cover the peak. The checkpoints are
    # written with --epochs 0 (the cost depends on the model's shape only). bilinear P = 251, H = 256: a 186 MB
    # checkpoint, read at 3.4 x its size (its bytes, the parsed tensors, the state, and bilinear.weight, a third of the
    # file, once more while it is converted to bilmod's order: an estimate of 3 x the file fell 10 MB short); its
    # analysis widens that weight to double. factored P = 499, H = 256: the class spectra's low-rank path (2P > 512),
    # the per-s logit sums and Fourier tables (P^2 doubles each), a figure's 998 x 998 matrices. About 40 s.
    if not sanitized:
        for model, P in [("bilinear", 251), ("factored", 499)]:
            run_dir = os.path.join(tmp, f"{model}{P}")
            shape = ["--model", model, "--mod-basis", str(P), "--hidden-dim", "256", "--train-frac", "0.3", "--no-track",
                     "--no-progress", "--checkpoint-dir", run_dir]
            ckpt = os.path.join(run_dir, "checkpoint_epoch_0.safetensors")
            commands = [("train --epochs 0", ["train", *shape, "--epochs", "0"]),
                        ("evaluate", ["evaluate", ckpt]),
                        ("analyze", ["analyze", ckpt, "--json"])]
            if model == "factored":
                commands += [("analyze --over-training", ["analyze", "--over-training", run_dir, "--output-dir",
                                                          os.path.join(tmp, f"figs{P}")]),
                             ("visualize-checkpoint", ["visualize-checkpoint", ckpt, "--output-dir",
                                                       os.path.join(tmp, f"vis{P}")])]
            for name, args in commands:
                r = run(*args, "--max-memory", "1M")
                m = NEEDS.search(r.stderr)
                check(f"{model} P = {P}, {name}: refused at --max-memory 1M with its estimate", r.returncode == 2 and m,
                      r.stderr[-300:])
                if not m:
                    continue
                estimate = float(m.group(1)) * UNIT[m.group(2)]
                code, peak = peak_rss(*args)
                check(f"{model} P = {P}, {name}: estimate {estimate / 2**20:.0f} MB covers the measured peak "
                      f"{peak / 2**20:.0f} MB", code == 0 and estimate >= peak, f"exit {code}")
            shutil.rmtree(run_dir, ignore_errors=True)

    # The estimates of the rest: the transformer (train, evaluate, analyze), analyze --hosvd, and a torch.save .pt
    # read by evaluate and analyze (4 x its size before its model is known; its bytes, the pickle, the parsed
    # tensors, the state). Each is refused at --max-memory 1M with the NEEDS line, then runs within its estimate.
    # The file is written by another python3 process: torch imported here would be in every child's maximum resident
    # set (a forked child keeps its parent's peak across exec), and every peak would read 240 MB.
    pt = os.path.join(tmp, "seed.pt")
    subprocess.run([sys.executable, "-c", f"""
import torch
P, H = 97, 384
g = torch.Generator().manual_seed(1)
torch.save({{"model_state_dict": {{"bilinear.weight": torch.randn(H, P, P, generator=g), "bilinear.bias": torch.randn(H, generator=g),
                                  "output.weight": torch.randn(P, H, generator=g), "output.bias": torch.randn(P, generator=g)}},
            "config": {{"mod_basis": P, "hidden_dim": H, "seed": 4}}}}, {pt!r})
"""], check=True)
    tdir = os.path.join(tmp, "transformer")
    tshape = ["--model", "transformer", "--mod-basis", "113", "--d-model", "128", "--num-heads", "4", "--no-track",
              "--no-progress", "--checkpoint-dir", tdir]
    tckpt = os.path.join(tdir, "checkpoint_epoch_0.safetensors")
    hdir = os.path.join(tmp, "hosvd")
    for name, args in [("transformer train --epochs 0", ["train", *tshape, "--epochs", "0"]),
                       ("transformer evaluate", ["evaluate", tckpt]),
                       ("transformer analyze", ["analyze", tckpt, "--json"]),
                       ("analyze --hosvd of a .pt", ["analyze", pt, "--hosvd", "--output-dir", hdir]),
                       ("evaluate of a .pt", ["evaluate", pt])]:
        r = run(*args, "--max-memory", "1M")
        m = NEEDS.search(r.stderr)
        check(f"{name}: refused at --max-memory 1M with its estimate", r.returncode == 2 and m, r.stderr[-300:])
        if not m:
            continue
        estimate = float(m.group(1)) * UNIT[m.group(2)]
        code, peak = peak_rss(*args)
        check(f"{name}: runs", code == 0, f"exit {code}")
        if not sanitized:
            check(f"{name}: estimate {estimate / 2**20:.0f} MB covers the measured peak {peak / 2**20:.0f} MB",
                  estimate >= peak, "")

    # A sweep checks each run against the memory available when that run starts: one too large for the machine fails
    # with the refusal line in the summary, and the others run.
    out = os.path.join(tmp, "sweep")
    r = run("sweep", "--grid", "hidden-dim=8,60000000", "--model", "factored", "--mod-basis", "23", "--epochs", "2",
            "--no-track", "--output-dir", out)
    with open(os.path.join(out, "summary.json")) as f:
        rows = {row["run"]: row for row in json.load(f)["runs"]}
    big = rows.get("hidden-dim=60000000", {})
    check("sweep: the run beyond the machine's memory fails with its estimate, the other finishes",
          r.returncode == 1 and big.get("status") == "failed" and "needs about" in big.get("message", "") and
          rows.get("hidden-dim=8", {}).get("status") == "finished", f"exit {r.returncode}: {rows}")

    # Memory running out where no estimate foresaw it (here: --max-memory overrides the estimate, and the address space
    # is limited to 2 GB) is one line and exit 1, not an abort, and nothing is written. Sanitizers reserve terabytes of
    # address space for their shadow memory, so this runs on the build users run.
    if not sanitized:
        import resource
        ck = os.path.join(tmp, "oom")

        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

        r = subprocess.run([BILMOD, "train", "--max-memory", "1T", "--mod-basis", "3000", "--hidden-dim", "2000",
                            "--epochs", "1", "--no-track", "--no-progress", "--checkpoint-dir", ck],
                           capture_output=True, text=True, preexec_fn=limit)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        check("an allocation failing: one line, exit 1, nothing written",
              r.returncode == 1 and len(lines) == 1 and "out of memory" in lines[0] and not os.path.exists(ck),
              f"exit {r.returncode}: {r.stderr[-300:]}")

finish()
sys.exit(skipping.exit_code(0))
