"""The PyTorch side of bilmod's benchmark (bench/run.sh): the PyTorch models a researcher would write, trained as the
seed trains them, timed per epoch.

  dense     the seed's code: nn.Bilinear(P, P, H) on one-hot vectors -> ReLU -> nn.Linear(H, P)
  gather    the same function written as an index gather: z = W[:, a, b] + bias (W of shape (H, P, P))
  factored  two bias-free nn.Linear(2P, H) on the concatenated one-hot input, h = l * r, bias-free nn.Linear(H, P)
  mlp       nn.Linear(2P, H) on the concatenated one-hot input -> ReLU -> nn.Linear(H, P)
  factored-embedding, mlp-embedding   the same functions with the one-hot input layers as F.embedding lookups
            (faster in PyTorch 1.13 at these sizes; the benchmark compares bilmod with the fastest it measures)

Every epoch: a fresh shuffle of the train pairs, AdamW (lr 3e-3, wd 0.5) steps over mini-batches (or one full batch),
then loss and accuracy on all train and all validation pairs (no_grad). Prints one JSON object per line:
{"impl": "torch", "model": ..., "epoch_seconds": [...], "epoch_cpu_seconds": [...], ...} (wall clock and
process CPU time). The first epoch is timed too; run.sh drops it as warm-up.
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Dense(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.bilinear = nn.Bilinear(p, p, h)
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        x1 = F.one_hot(a, self.p).float()
        x2 = F.one_hot(b, self.p).float()
        return self.output(F.relu(self.bilinear(x1, x2)))


class Gather(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        bound = 1 / p ** 0.5
        self.weight = nn.Parameter(torch.empty(h, p, p).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(h).uniform_(-bound, bound))
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        return self.output(F.relu(self.weight[:, a, b].t() + self.bias))


class Factored(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.left = nn.Linear(2 * p, h, bias=False)
        self.right = nn.Linear(2 * p, h, bias=False)
        self.output = nn.Linear(h, p, bias=False)

    def forward(self, a, b):
        x = torch.cat([F.one_hot(a, self.p), F.one_hot(b, self.p)], dim=1).float()
        return self.output(self.left(x) * self.right(x))


class FactoredTable(Factored):
    """factored as a plain script writes it when it builds its one-hot inputs once (as the seed's data module does): the
    [e_a; e_b] rows of every pair in one table, indexed per batch."""

    def __init__(self, p, h):
        super().__init__(p, h)
        pairs = torch.arange(p * p)
        self.table = torch.cat([F.one_hot(pairs // p, p), F.one_hot(pairs % p, p)], dim=1).float()

    def forward(self, a, b):
        x = self.table[a * self.p + b]
        return self.output(self.left(x) * self.right(x))


class Mlp(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.hidden = nn.Linear(2 * p, h)
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        x = torch.cat([F.one_hot(a, self.p), F.one_hot(b, self.p)], dim=1).float()
        return self.output(F.relu(self.hidden(x)))


class FactoredEmbedding(nn.Module):
    """factored with its input layers as lookups: a one-hot row times a weight matrix is a row of it, so
    left(x) = E_left[a] + E_left[P + b] (F.embedding, whose backward adds rows instead of a (2P x n) @ (n x H) matmul)."""

    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.left = nn.Embedding(2 * p, h)
        self.right = nn.Embedding(2 * p, h)
        self.output = nn.Linear(h, p, bias=False)

    def forward(self, a, b):
        bp = b + self.p
        return self.output((self.left(a) + self.left(bp)) * (self.right(a) + self.right(bp)))


class MlpEmbedding(nn.Module):
    """mlp with its input layer as a lookup (F.embedding) and its bias added apart."""

    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.hidden = nn.Embedding(2 * p, h)
        self.hidden_bias = nn.Parameter(torch.zeros(h))
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        return self.output(F.relu(self.hidden(a) + self.hidden(b + self.p) + self.hidden_bias))


MODELS = {"dense": Dense, "gather": Gather, "factored": Factored, "mlp": Mlp, "factored-embedding": FactoredEmbedding,
          "mlp-embedding": MlpEmbedding, "factored-table": FactoredTable}


def blas_libraries():
    """The BLAS libraries this process has mapped (call after a matmul): what PyTorch really calls."""
    names = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if "blas" in base or "mkl" in base or "lapack" in base:
                names.add(path)
    return sorted(names)


def sgemm_provider():
    """The library whose sgemm_ PyTorch's CPU library resolves (dlsym from libtorch_cpu's handle searches its
    dependencies in load order, as its own calls do): with libblas.so.3 and OpenBLAS both mapped, this says which runs."""
    import ctypes

    torch_cpu = next((p for p in blas_mapped_paths("libtorch_cpu")), None)
    if torch_cpu is None:
        return None

    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p), ("dli_sname", ctypes.c_char_p),
                    ("dli_saddr", ctypes.c_void_p)]

    try:
        address = ctypes.cast(ctypes.CDLL(torch_cpu).sgemm_, ctypes.c_void_p).value
        info = DlInfo()
        if ctypes.CDLL(None).dladdr(ctypes.c_void_p(address), ctypes.byref(info)) == 0:
            return None
        return info.dli_fname.decode()
    except (AttributeError, OSError):
        return None


def blas_mapped_paths(fragment):
    with open("/proc/self/maps") as f:
        return sorted({line.split()[-1] for line in f if len(line.split()) >= 6 and fragment in line.split()[-1]})


def blas_kind(libraries):
    """'openblas', 'mkl', 'reference' (netlib's libblas.so.3 with no optimised library behind it) or 'unknown'."""
    if not libraries:
        return "unknown"
    path = os.path.realpath(libraries[0])  # the first: sgemm_'s provider (Debian's alternatives resolved)
    if "openblas" in path:
        return "openblas"
    if "mkl" in path:
        return "mkl"
    if os.path.basename(path).startswith("libblas"):
        return "reference"
    return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS))
    ap.add_argument("--mod-basis", type=int, default=113)
    ap.add_argument("--hidden-dim", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--train-frac", type=float, default=0.8)
    ap.add_argument("--full-batch", action="store_true")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blas-only", action="store_true", help="print which BLAS PyTorch calls, train nothing")
    args = ap.parse_args()
    if not args.blas_only and not args.model:
        ap.error("--model is required")

    torch.set_num_threads(args.threads)
    x = torch.ones(64, 64)
    (x @ x).sum().item()  # a matmul, so that the BLAS PyTorch calls is mapped
    libraries = blas_libraries()
    provider = sgemm_provider()
    if provider:  # the library that really runs sgemm_ decides; the others mapped are named after it
        libraries = [provider] + [p for p in libraries if p != provider]
    if args.blas_only:
        print(json.dumps(dict(blas=blas_kind(libraries), blas_libraries=libraries, torch=torch.__version__,
                              threads=torch.get_num_threads())))
        return
    torch.manual_seed(args.seed)
    p = args.mod_basis
    pairs = torch.arange(p * p)
    a_all, b_all = pairs // p, pairs % p
    labels_all = (a_all + b_all) % p
    perm = torch.randperm(p * p)
    n_train = int(args.train_frac * p * p)  # floor, as the seed's data module
    train_idx, val_idx = perm[:n_train], perm[n_train:]
    model = MODELS[args.model](p, args.hidden_dim)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5)
    batch = n_train if args.full_batch else args.batch_size

    def evaluate(idx):
        with torch.no_grad():
            logits = model(a_all[idx], b_all[idx])
            loss = F.cross_entropy(logits, labels_all[idx]).item()
            acc = (logits.argmax(dim=1) == labels_all[idx]).float().mean().item()
        return loss, acc

    seconds, cpu_seconds, metrics = [], [], {}
    for _ in range(args.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train()
        order = train_idx[torch.randperm(n_train)]
        for begin in range(0, n_train, batch):
            idx = order[begin:begin + batch]
            loss = F.cross_entropy(model(a_all[idx], b_all[idx]), labels_all[idx])
            opt.zero_grad(set_to_none=True)  # torch 1.13's default still writes zeros
            loss.backward()
            opt.step()
        model.eval()
        train_loss, train_acc = evaluate(train_idx)
        val_loss, val_acc = evaluate(val_idx)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        metrics = dict(train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc)
    print(json.dumps(dict(impl="torch", model=args.model, threads=args.threads, torch=torch.__version__,
                          blas=blas_kind(libraries), blas_libraries=libraries,
                          steps_per_epoch=(n_train + batch - 1) // batch, epoch_seconds=seconds,
                          epoch_cpu_seconds=cpu_seconds, final=metrics)))


if __name__ == "__main__":
    main()
