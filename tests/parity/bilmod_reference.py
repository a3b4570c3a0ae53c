"""Shared helpers of the PyTorch parity and end-to-end tests.

Everything here is written from the documents (docs/MODELS.md, docs/FORMATS.md), not from bilmod's code: the
safetensors reader/writer, bilmod's counter-based random stream (to reproduce the split and each epoch's batch order),
and the PyTorch reference modules of the three models, with the parameter names bilmod's checkpoints use.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BILMOD = os.environ.get("BILMOD", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bilmod"))
MASK = (1 << 64) - 1

# ---------------------------------------------------------------------------------------------------------------
# safetensors with numpy: 8-byte little-endian header length, JSON header, data buffer.
_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """Returns (tensors: dict name -> np.ndarray, metadata: dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[base + begin:base + end], dtype=_DTYPES[info["dtype"]])
        tensors[name] = arr.reshape(info["shape"]).copy()
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[arr.dtype]
        blob = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# ---------------------------------------------------------------------------------------------------------------
# bilmod's counter-based random stream (docs/MODELS.md "Data"; src/util/rng.h documents the same formulas).
def mix64(x):
    x &= MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def stream_key(seed, purpose, index):
    return mix64(mix64(seed ^ 0x6A09E667F3BCC909) ^ ((purpose * 0x9E3779B97F4A7C15) & MASK) ^ mix64(index + 1))


def random_below(key, i, n):
    return (mix64((key + (i + 1) * 0x9E3779B97F4A7C15) & MASK) * n) >> 64


def shuffled(values, key):
    values = list(values)
    for j in range(len(values) - 1, 0, -1):
        other = random_below(key, len(values) - 1 - j, j + 1)
        values[j], values[other] = values[other], values[j]
    return values


SPLIT_STREAM, EPOCH_ORDER_STREAM = 1, 2


def epoch_order(n_train, seed, epoch):
    return shuffled(range(n_train), stream_key(seed, EPOCH_ORDER_STREAM, epoch))


def steps_per_epoch(n_train, micro, accum):
    """Optimiser steps per epoch: micro-batches of `micro` pairs (n_train for full batch), `accum` of them a step."""
    return ((n_train + micro - 1) // micro + accum - 1) // accum


def step_batches(train_pairs, p, epochs, seed, micro, accum):
    """bilmod's optimiser steps (docs/MODELS.md "Gradient accumulation and batches"): every epoch the train pairs in
    epoch_order, cut into micro-batches of `micro`, `accum` of them a step (the last step of an epoch may have
    fewer). Yields each step's micro-batches as a list of (a, b) tensors."""
    pairs = torch.tensor(train_pairs)
    n = len(train_pairs)
    n_micro = (n + micro - 1) // micro
    for epoch in range(epochs):
        order = torch.tensor(epoch_order(n, seed, epoch))
        for s in range(steps_per_epoch(n, micro, accum)):
            group = []
            for j in range(s * accum, min((s + 1) * accum, n_micro)):
                idx = pairs[order[j * micro:(j + 1) * micro]]
                group.append((idx // p, idx % p))
            yield group


# The operations (docs/MODELS.md "Data"), on tensors of a and b; div is a * b^(P-2), defined for b != 0.
OPERATIONS = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: (a * torch.tensor([pow(int(x), p - 2, p) for x in b])) % p,
    "x2+y2": lambda a, b, p: (a * a + b * b) % p,
    "x2+xy+y2": lambda a, b, p: (a * a + a * b + b * b) % p,
    "x2+xy+y2+x": lambda a, b, p: (a * a + a * b + b * b + a) % p,
    "x3+xy": lambda a, b, p: (a * a * a + a * b) % p,
    "x3+xy2+y": lambda a, b, p: (a * a * a + a * b * b + b) % p,
}


def split(p, train_frac, data_seed):
    """The add/sub/mul table's split: every pair a*P+b permuted, the first floor(frac*N) are train."""
    pairs = shuffled(range(p * p), stream_key(data_seed, SPLIT_STREAM, 0))
    n_train = int(train_frac * len(pairs) + 1e-9)
    return pairs[:n_train], pairs[n_train:]


# ---------------------------------------------------------------------------------------------------------------
# The reference modules, written as the papers and the seed write them: on one-hot inputs.
class BilinearModel(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.bilinear = nn.Bilinear(p, p, h)
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        ea, eb = F.one_hot(a, self.p).float(), F.one_hot(b, self.p).float()
        return self.output(torch.relu(self.bilinear(ea, eb)))


class FactoredModel(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.left = nn.Linear(2 * p, h, bias=False)
        self.right = nn.Linear(2 * p, h, bias=False)
        self.output = nn.Linear(h, p, bias=False)

    def forward(self, a, b):
        x = torch.cat([F.one_hot(a, self.p), F.one_hot(b, self.p)], dim=1).float()
        return self.output(self.left(x) * self.right(x))


class MlpModel(nn.Module):
    def __init__(self, p, h, activation="relu"):
        super().__init__()
        self.p = p
        self.activation = activation
        self.hidden = nn.Linear(2 * p, h)
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        x = torch.cat([F.one_hot(a, self.p), F.one_hot(b, self.p)], dim=1).float()
        z = self.hidden(x)
        return self.output(torch.relu(z) if self.activation == "relu" else z * z)


class UpstreamBilinearModel(nn.Module):
    """The seed's upstream today (d0rbu/bilinear-modular-arthimetic): nn.Bilinear(P, P, P) straight to the logits, or
    with use_output_projection nn.Bilinear(P, P, H) -> nn.Linear(H, P); no activation, bias=False by default. With
    activation="relu" (and bias=True, projection) it is the seed's model."""

    def __init__(self, p, h, use_output_projection=False, bias=False, activation="none"):
        super().__init__()
        self.p = p
        self.use_output_projection = use_output_projection
        self.activation = activation
        self.bilinear = nn.Bilinear(p, p, h if use_output_projection else p, bias=bias)
        if use_output_projection:
            self.output = nn.Linear(h, p, bias=bias)

    def forward(self, a, b):
        ea, eb = F.one_hot(a, self.p).float(), F.one_hot(b, self.p).float()
        h = self.bilinear(ea, eb)
        if self.activation == "relu":
            h = torch.relu(h)
        return self.output(h) if self.use_output_projection else h


def make_model(kind, p, h, activation="relu", bias=True, use_output_projection=True):
    if kind == "bilinear" and (not bias or not use_output_projection or activation == "none"):
        return UpstreamBilinearModel(p, h, use_output_projection, bias, activation)
    if kind == "bilinear":
        return BilinearModel(p, h)
    if kind == "factored":
        return FactoredModel(p, h)
    return MlpModel(p, h, activation)


def state_dict_numpy(module):
    return {k: v.detach().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def model_tensors(tensors):
    """A checkpoint's model parameters: what load_state_dict(strict=True) takes."""
    return {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith(("optimizer.", "data."))}


# ---------------------------------------------------------------------------------------------------------------
def run_bilmod(*args, expect=0, env=None):
    proc = subprocess.run([BILMOD, *map(str, args)], capture_output=True, text=True, env=env)
    if proc.returncode != expect:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise AssertionError(f"bilmod {' '.join(map(str, args))} exited {proc.returncode}, expected {expect}")
    return proc


def train_run(d, *extra, expect=0):
    """`bilmod train` into checkpoint folder d, quietly and untracked."""
    return run_bilmod("train", "--checkpoint-dir", d, "--no-progress", "--no-track", *extra, expect=expect)


def differing_tensors(x, y):
    """Names of tensors that differ in any bit, or exist in only one of the two."""
    return sorted(k for k in set(x) | set(y) if k not in x or k not in y or x[k].tobytes() != y[k].tobytes())


def check_threads_bitwise(failures, args, epochs, what):
    """The same run at --threads 1 and 2 must write bitwise the same last checkpoint."""
    with tempdir() as one, tempdir() as two:
        train_run(one, *args, "--threads", 1)
        train_run(two, *args, "--threads", 2)
        name = f"checkpoint_epoch_{epochs}.safetensors"
        x, _ = read_safetensors(os.path.join(one, name))
        y, _ = read_safetensors(os.path.join(two, name))
        diff = differing_tensors(x, y)
        failures.check(not diff, f"--threads 1 and 2 bitwise with {what} (differing: {diff})")


def step_losses(log_path):
    """train/batch_loss of every optimiser step, from a --log-file written at --log-level DEBUG."""
    losses = {}
    with open(log_path) as f:
        for line in f:
            record = json.loads(line)
            if record["message"] == "step":
                losses[record["fields"]["step"]] = record["fields"]["train/batch_loss"]
    return [losses[s] for s in sorted(losses)]


def relative_difference(actual, expected):
    """max |actual - expected| / max |expected| (with a floor of 1e-30)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-30))


# The parity tests' limits: per-step loss relative to PyTorch's, final tensors relative to their largest value.
LOSS_RTOL, PARAM_RTOL = 1e-5, 1e-4


def check_step_losses(failures, label, ours, theirs, note=""):
    """Same number of optimiser steps as PyTorch, and each step's loss within LOSS_RTOL of its."""
    failures.check(len(ours) == len(theirs), f"{label}: {len(ours)} steps (PyTorch {len(theirs)})")
    if len(ours) == len(theirs):
        worst = max(abs(x - y) / abs(y) for x, y in zip(ours, theirs))
        failures.check(worst <= LOSS_RTOL, f"{label}: per-step loss, largest relative difference {worst:.3g} "
                                           f"(limit {LOSS_RTOL}{note})")


def check_final_tensors(failures, label, final, reference, limit=PARAM_RTOL):
    """Each reference tensor (name -> numpy array) against bilmod's checkpoint tensor of that name."""
    for name, expected in reference.items():
        diff = relative_difference(final[name], expected)
        failures.check(diff <= limit, f"{label}: final {name}, largest difference {diff:.3g} of its largest value "
                                      f"(limit {limit})")


class Failures:
    """Collects failed comparisons, printing each with its largest difference; exit 1 if any."""

    def __init__(self):
        self.count = 0
        self.checks = 0

    def check(self, ok, message):
        self.checks += 1
        print(("ok   " if ok else "FAIL ") + message, flush=True)
        if not ok:
            self.count += 1
        return ok

    def finish(self):
        print(f"{self.checks - self.count} passed, {self.count} failed")
        sys.exit(1 if self.count or not self.checks else 0)


def tempdir():
    return tempfile.TemporaryDirectory(prefix="bilmod-test-")
