"""Seconds per epoch of the Clock-and-Pizza recipe (--preset zhong2023: P 59, 80 % train, full batch, AdamW): bilmod
at one and two threads against the paper's own training step (train-main.py's loop: the train forward, the test
loss, backward, AdamW), its module transcribed in tests/parity/pizza_reference.py, on Debian's torch. Repetitions are
interleaved; medians. bilmod evaluates every pair each epoch; the paper's loop only its test split.

  /usr/bin/python3 bench/clock_pizza_bench.py --binary build/bilmod --reps 3 --epochs 60
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
import torch  # noqa: E402

from pizza_reference import Transformer, cross_entropy_high_precision, inputs  # noqa: E402

P = 59


def bilmod_epoch(binary, epochs, threads, alpha):
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([binary, "train", "--preset", "zhong2023", "--attention-rate", str(alpha), "--epochs",
                              str(epochs), "--threads", str(threads), "--checkpoint-dir", d, "--checkpoint-every", "0",
                              "--no-track", "--no-progress"], capture_output=True, text=True, check=True)
    return float(re.search(r"\(([0-9.]+) ms/epoch\)", out.stdout + out.stderr).group(1)) / 1000


def paper_epoch(epochs, alpha):
    torch.set_num_threads(1)
    perm = torch.randperm(P * P, generator=torch.Generator().manual_seed(0)).tolist()
    n_train = int(0.8 * P * P)
    xtr, ytr, vocab = inputs(perm[:n_train], P, False, False)
    xte, yte, _ = inputs(perm[n_train:], P, False, False)
    model = Transformer(1, vocab, 128, 32, 4, 2, "ReLU", alpha)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=2.0, betas=(0.9, 0.98))
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        loss = cross_entropy_high_precision(model(xtr)[:, -1, :], ytr)
        cross_entropy_high_precision(model(xte)[:, -1, :], yte).item()
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/bilmod")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=60, help="bilmod epochs per repetition (the paper's: a sixth)")
    ap.add_argument("--alpha", type=float, default=0.5)
    args = ap.parse_args()
    rows = {"the paper's loop (PyTorch, one thread)": [], "bilmod, one thread": [], "bilmod, two threads": []}
    for _ in range(args.reps):
        rows["the paper's loop (PyTorch, one thread)"].append(paper_epoch(max(4, args.epochs // 6), args.alpha))
        rows["bilmod, one thread"].append(bilmod_epoch(args.binary, args.epochs, 1, args.alpha))
        rows["bilmod, two threads"].append(bilmod_epoch(args.binary, args.epochs, 2, args.alpha))
    one = statistics.median(rows["bilmod, one thread"])
    print("| form | s/epoch (median) | 20 000 epochs | time over bilmod's on one thread |")
    print("| --- | --- | --- | --- |")
    for name, values in rows.items():
        m = statistics.median(values)
        print(f"| {name} | {m:.4f} | {m * 20000 / 60:.0f} min | {m / one:.1f}x |")


if __name__ == "__main__":
    main()
