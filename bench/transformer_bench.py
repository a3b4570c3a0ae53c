"""bilmod's transformer against PyTorch, side by side (issue 15): seconds per epoch of Nanda et al.'s recipe
(P 113, d_model 128, 4 heads, d_mlp 512, train fraction 0.3, full batch AdamW, train and test loss every epoch).

  paper   the paper's module and training step as transformers.py writes them (einsums over all three positions,
          train and test loss with autograd on, log-softmax in float32), on Debian's python3-torch
  plain   the fastest PyTorch form we wrote: the same function with plain matmuls, the MLP and unembedding at the
          last position only, the test loss under no_grad
  bilmod  bilmod train --preset nanda2023 at 1 and 2 threads

Interleaved repetitions; medians. PyTorch epochs are timed inside the process with time.process_time (CPU time of
its one thread; the first epochs are warm-up). bilmod runs twice per repetition, for E and E + dE epochs, and the
difference of the two runs' CPU times (RUSAGE_CHILDREN) divided by dE is its epoch (start-up, the epoch-0 evaluation
and the checkpoints cancel); at 2 threads the wall-clock difference is used, since CPU time adds both threads.
The machine is shared: CPU time and medians are what survive other people's builds; read wall times with that in mind.
Checks that torch uses OpenBLAS (its /proc/self/maps names libopenblas), and says so. Never fails for slowness.

  /usr/bin/python3 bench/transformer_bench.py --binary build/bilmod [--reps 3] [--epochs 8]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def torch_child(mode, epochs):
    import numpy as np
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    with open("/proc/self/maps") as f:
        blas = "openblas" if "libopenblas" in f.read() else "not OpenBLAS"
    torch.manual_seed(0)
    p, d, heads, dm = 113, 128, 4, 512
    dh, v = d // heads, p + 1
    W_E = torch.randn(d, v) / np.sqrt(d)
    W_pos = torch.randn(3, d) / np.sqrt(d)
    W_K, W_Q, W_V = (torch.randn(heads, dh, d) / np.sqrt(d) for _ in range(3))
    W_O = torch.randn(d, heads * dh) / np.sqrt(d)
    W_in, b_in = torch.randn(dm, d) / np.sqrt(d), torch.zeros(dm)
    W_out, b_out = torch.randn(d, dm) / np.sqrt(d), torch.zeros(d)
    W_U = torch.randn(d, v) / np.sqrt(v)
    params = [W_E, W_pos, W_K, W_Q, W_V, W_O, W_in, b_in, W_out, b_out, W_U]
    for t in params:
        t.requires_grad_(True)
    mask = torch.tril(torch.ones(3, 3))
    rng = np.random.default_rng(0)
    order = rng.permutation(p * p)
    n_train = int(0.3 * p * p)
    data = torch.tensor([(i // p, i % p, p) for i in order])
    labels = (data[:, 0] + data[:, 1]) % p
    train, test = (data[:n_train], labels[:n_train]), (data[n_train:], labels[n_train:])

    def paper_logits(x):  # transformers.py, Transformer.forward, every position
        x = torch.einsum("dbp -> bpd", W_E[:, x]) + W_pos[:x.shape[-1]]
        k = torch.einsum("ihd,bpd->biph", W_K, x)
        q = torch.einsum("ihd,bpd->biph", W_Q, x)
        vv = torch.einsum("ihd,bpd->biph", W_V, x)
        s = torch.einsum("biph,biqh->biqp", k, q)
        s = torch.tril(s) - 1e10 * (1 - mask)
        a = F.softmax(s / np.sqrt(dh), dim=-1)
        z = torch.einsum("biph,biqp->biqh", vv, a)
        z = z.permute(0, 2, 1, 3).reshape(z.shape[0], 3, -1)
        x = x + torch.einsum("df,bqf->bqd", W_O, z)
        h = F.relu(torch.einsum("md,bpd->bpm", W_in, x) + b_in)
        x = x + torch.einsum("dm,bpm->bpd", W_out, h) + b_out
        return (x @ W_U)[:, -1]

    def plain_logits(x):  # the same function: matmuls, the last position's query, MLP and unembedding only
        e = W_E.t()[x] + W_pos                                   # (n, 3, d)
        n = e.shape[0]
        kv = e.reshape(n * 3, d) @ torch.cat([W_K, W_V], 0).reshape(2 * heads * dh, d).t()
        kv = kv.reshape(n, 3, 2, heads, dh)
        k, vv = kv[:, :, 0].permute(0, 2, 1, 3), kv[:, :, 1].permute(0, 2, 1, 3)   # (n, heads, 3, dh)
        q = (e[:, 2] @ W_Q.reshape(heads * dh, d).t()).reshape(n, heads, 1, dh)
        a = F.softmax((q @ k.transpose(-1, -2)) / np.sqrt(dh), dim=-1)              # (n, heads, 1, 3)
        z = (a @ vv).reshape(n, heads * dh)
        x2 = e[:, 2] + z @ W_O.t()
        x2 = x2 + F.relu(x2 @ W_in.t() + b_in) @ W_out.t() + b_out
        return x2 @ W_U

    forward = paper_logits if mode == "paper" else plain_logits

    def loss(batch):
        x, y = batch
        lp = F.log_softmax(forward(x).to(torch.float32), dim=-1)
        return -torch.gather(lp, index=y[:, None], dim=-1).mean()

    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(step / 10, 1))
    times = []
    for _ in range(epochs):
        t0 = time.process_time()
        train_loss = loss(train)
        if mode == "paper":
            test_loss = loss(test)
        else:
            with torch.no_grad():
                test_loss = loss(test)
        train_loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        test_loss.item()
        times.append(time.process_time() - t0)
    print("BLAS", blas)
    print("TIMES", " ".join(f"{t:.6f}" for t in times))


def run_torch(mode, epochs):
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--epochs", str(epochs)], capture_output=True,
                         text=True, env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"), check=True).stdout
    blas = [l.split(" ", 1)[1] for l in out.splitlines() if l.startswith("BLAS")][0]
    times = [float(x) for l in out.splitlines() if l.startswith("TIMES") for x in l.split()[1:]]
    return blas, times[3:]  # the first epochs are warm-up


def run_bilmod(binary, epochs, threads):
    with tempfile.TemporaryDirectory(prefix="bilmod-bench-") as d:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        subprocess.run([binary, "train", "--preset", "nanda2023", "--epochs", str(epochs), "--threads", str(threads),
                        "--checkpoint-dir", d, "--checkpoint-every", "0", "--no-track", "--no-progress",
                        "--log-level", "WARNING"], check=True, capture_output=True)
        wall = time.perf_counter() - w0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "build", "bilmod"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8, help="PyTorch epochs per run (3 are warm-up)")
    ap.add_argument("--bilmod-epochs", type=int, default=20, help="bilmod runs E and E + this many epochs")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        torch_child(args.child, args.epochs)
        return
    samples = {"paper": [], "plain": [], "bilmod-1t": [], "bilmod-2t": []}
    blas = set()
    for rep in range(args.reps):
        for mode in ("paper", "plain"):
            b, t = run_torch(mode, args.epochs)
            blas.add(b)
            samples[mode] += t
        for threads in (1, 2):
            short_cpu, short_wall = run_bilmod(args.binary, 5, threads)
            long_cpu, long_wall = run_bilmod(args.binary, 5 + args.bilmod_epochs, threads)
            per = (long_cpu - short_cpu if threads == 1 else long_wall - short_wall) / args.bilmod_epochs
            samples[f"bilmod-{threads}t"].append(per)
        print(f"rep {rep + 1}/{args.reps}: " + ", ".join(f"{k} {statistics.median(v) * 1e3:.1f} ms"
                                                         for k, v in samples.items()), flush=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"\ntorch BLAS: {', '.join(sorted(blas))}; one thread each unless named; medians of "
          f"{args.reps} interleaved repetitions")
    print(f"{'form':<12} {'s/epoch':>9} {'min':>9} {'max':>9}  bilmod-1t is")
    for k, v in samples.items():
        print(f"{k:<12} {med[k]:9.4f} {min(v):9.4f} {max(v):9.4f}  {med[k] / med['bilmod-1t']:.2f}x faster")
    print(f"two threads over one (bilmod, wall): {med['bilmod-1t'] / med['bilmod-2t']:.2f}x")


if __name__ == "__main__":
    main()
