"""Hostile .pt files (issue 23): a torch.save archive whose pickle lies about sizes, offsets, strides and counts, or
tries to exhaust memory or time. The files are written here, opcode by opcode, with zipfile and a small pickle writer
(no torch.save: torch would refuse to write most of these). Every file gets one line on stderr naming the file and what
is wrong, exit 1, nothing written, and (in CI's AddressSanitizer stage, which runs this test) no read out of bounds.

The honest file of each group is loaded first and must succeed: a lie is the only difference between it and the
refused ones, so a refusal cannot come from something else the writer got wrong."""
import math
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from reliability_common import Failures, run, snapshot, snapshot_diff, tempdir  # noqa: E402

P, H = 7, 4
I64_MAX = 2**63 - 1


# ---- a pickle writer: just the opcodes torch.save uses (protocol 2) --------------------------------------------------

class Global:
    def __init__(self, module, name):
        self.module, self.name = module, name


class Raw:
    """Opcodes written as they are (for the pickles that are themselves the attack)."""

    def __init__(self, data):
        self.data = data


class Tensor:
    """A torch tensor as _rebuild_tensor_v2 states it: a view (offset, shape, stride) of storage `key`."""

    def __init__(self, key, storage_type, numel, offset, shape, stride):
        self.key, self.storage_type, self.numel = key, storage_type, numel
        self.offset, self.shape, self.stride = offset, tuple(shape), tuple(stride)


def p_int(x):
    if isinstance(x, bool):
        return b"\x88" if x else b"\x89"
    if 0 <= x < 256:
        return b"K" + bytes([x])
    if -2**31 <= x < 2**31:
        return b"J" + struct.pack("<i", x)
    n = (x.bit_length() + 8) // 8  # LONG1: little-endian two's complement
    return b"\x8a" + bytes([n]) + x.to_bytes(n, "little", signed=True)


def p_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_global(g):
    return b"c" + g.module.encode() + b"\n" + g.name.encode() + b"\n"


def p_tuple(items):
    return b"(" + b"".join(pickle_value(i) for i in items) + b"t"


def pickle_value(v):
    if v is None:
        return b"N"
    if isinstance(v, (bool, int)):
        return p_int(v)
    if isinstance(v, float):
        return b"G" + struct.pack(">d", v)
    if isinstance(v, str):
        return p_str(v)
    if isinstance(v, Raw):
        return v.data
    if isinstance(v, Global):
        return p_global(v)
    if isinstance(v, tuple):
        return p_tuple(v)
    if isinstance(v, list):
        return b"](" + b"".join(pickle_value(i) for i in v) + b"e"
    if isinstance(v, dict):
        body = b"".join(pickle_value(k) + pickle_value(x) for k, x in v.items())
        return b"}(" + body + b"u"
    if isinstance(v, Tensor):
        pid = p_tuple(("storage", Global("torch", v.storage_type), v.key, "cpu", v.numel)) + b"Q"
        args = b"(" + pid + pickle_value(v.offset) + p_tuple(v.shape) + p_tuple(v.stride) + b"\x89" + \
            p_global(Global("collections", "OrderedDict")) + b")R" + b"t"
        return p_global(Global("torch._utils", "_rebuild_tensor_v2")) + args + b"R"
    raise TypeError(type(v))


def pickle_document(root):
    return b"\x80\x02" + pickle_value(root) + b"."


# ---- the archive ----------------------------------------------------------------------------------------------------

def contiguous(shape):
    stride, s = [], 1
    for d in reversed(shape):
        stride.insert(0, s)
        s *= d
    return tuple(stride)


class Archive:
    """Storages and the dict to pickle; `write` makes the torch.save zip ({name}/data.pkl, {name}/data/{key})."""

    def __init__(self):
        self.storages = {}  # key -> bytes, or ("zeros", n) for a storage written in chunks

    def tensor(self, values, shape, storage_type="FloatStorage", fmt="<f"):
        key = str(len(self.storages))
        self.storages[key] = b"".join(struct.pack(fmt, x) for x in values)
        return Tensor(key, storage_type, len(values), 0, shape, contiguous(shape))

    def write(self, path, root, pickle_bytes=None, big_entries=()):
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", pickle_bytes if pickle_bytes is not None else pickle_document(root))
            z.writestr("archive/byteorder", "little")
            for key, data in self.storages.items():
                z.writestr(f"archive/data/{key}", data)
            z.writestr("archive/version", "3\n")
        if big_entries:  # (name, bytes of zeros): deflated, written in chunks, a few hundred KB on disk
            with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                for name, n in big_entries:
                    with z.open(name, "w", force_zip64=True) as f:
                        chunk = bytes(1 << 20)
                        for _ in range(n >> 20):
                            f.write(chunk)


def seed_model(a):
    """The seed's bilinear model at P = 7, H = 4, honest: small values, contiguous float32 storages."""
    def vals(n, scale):
        return [scale * math.sin(1.0 + i) for i in range(n)]
    return {
        "bilinear.weight": a.tensor(vals(H * P * P, 0.3), (H, P, P)),
        "bilinear.bias": a.tensor(vals(H, 0.1), (H,)),
        "output.weight": a.tensor(vals(P * H, 0.5), (P, H)),
        "output.bias": a.tensor(vals(P, 0.1), (P,)),
    }


def adamw_state(a, names, step=3.0):
    shapes = {"bilinear.weight": (H, P, P), "bilinear.bias": (H,), "output.weight": (P, H), "output.bias": (P,)}
    state = {}
    for i, n in enumerate(names):
        size = math.prod(shapes[n])
        state[i] = {"step": a.tensor([step], (), "FloatStorage"),
                    "exp_avg": a.tensor([0.01] * size, shapes[n]),
                    "exp_avg_sq": a.tensor([0.001] * size, shapes[n])}
    group = {"lr": 0.002, "betas": (0.85, 0.97), "eps": 1e-7, "weight_decay": 0.3, "amsgrad": False,
             "maximize": False, "params": list(range(len(names)))}
    return {"state": state, "param_groups": [group]}


def split_tensors(a):
    n = P * P
    order = [(i * 17 + 3) % n for i in range(n)]  # a permutation of the pairs (17 is prime to 49)
    k = int(0.8 * n)
    return (a.tensor(order[:k], (k,), "LongStorage", "<q"), a.tensor(order[k:], (n - k,), "LongStorage", "<q"))


def seed_checkpoint(lie=None, optimizer=False, split=False):
    """(archive, root dict). lie(archive, root) changes what it wants, after the honest file is built."""
    a = Archive()
    sd = seed_model(a)
    root = {"model_state_dict": sd, "config": {"mod_basis": P, "hidden_dim": H, "seed": 5}, "epoch": 2}
    if optimizer:
        root["optimizer_state_dict"] = adamw_state(a, list(sd))
    if split:
        root["train_indices"], root["val_indices"] = split_tensors(a)
    if lie:
        lie(a, root)
    return a, root


def view(t, **changes):
    """A copy of tensor t with some of its header numbers changed."""
    u = Tensor(t.key, t.storage_type, t.numel, t.offset, t.shape, t.stride)
    for k, v in changes.items():
        setattr(u, k, v)
    return u


def transformer_checkpoint(lens=False, lie=None):
    """Nanda et al.'s Transformer at P = 5, d_model 8, 2 heads, d_mlp 16, as its transformers.py saves it; or, lens,
    TransformerLens's names and layouts with the zero biases."""
    p, d, heads, m = 5, 8, 2, 16
    dh, v = d // heads, p + 1
    a = Archive()

    def t(shape, scale=0.2):
        n = math.prod(shape)
        return a.tensor([scale * math.cos(0.7 * i) for i in range(n)], shape)

    if not lens:
        sd = {"embed.W_E": t((d, v)), "pos_embed.W_pos": t((3, d)), "blocks.0.attn.W_K": t((heads, dh, d)),
              "blocks.0.attn.W_Q": t((heads, dh, d)), "blocks.0.attn.W_V": t((heads, dh, d)),
              "blocks.0.attn.W_O": t((d, heads * dh)), "blocks.0.mlp.W_in": t((m, d)), "blocks.0.mlp.b_in": t((m,)),
              "blocks.0.mlp.W_out": t((d, m)), "blocks.0.mlp.b_out": t((d,)), "unembed.W_U": t((d, v))}
    else:
        sd = {"embed.W_E": t((v, d)), "pos_embed.W_pos": t((3, d)), "blocks.0.attn.W_K": t((heads, d, dh)),
              "blocks.0.attn.W_Q": t((heads, d, dh)), "blocks.0.attn.W_V": t((heads, d, dh)),
              "blocks.0.attn.W_O": t((heads, dh, d)), "blocks.0.attn.b_Q": t((heads, dh), 0),
              "blocks.0.attn.b_K": t((heads, dh), 0), "blocks.0.attn.b_V": t((heads, dh), 0),
              "blocks.0.attn.b_O": t((d,), 0), "blocks.0.mlp.W_in": t((d, m)), "blocks.0.mlp.b_in": t((m,)),
              "blocks.0.mlp.W_out": t((m, d)), "blocks.0.mlp.b_out": t((d,)), "unembed.W_U": t((d, v)),
              "unembed.b_U": t((v,), 0)}
    root = {"model": sd, "epoch": 10}
    if not lens:
        pairs = [(x, y, p) for x in range(p) for y in range(p)]
        root["train_data"], root["test_data"] = pairs[:15], pairs[15:]
    if lie:
        lie(a, root)
    return a, root


def sd(root):
    return root.get("model_state_dict") or root["model"]


def set_tensor(name, **changes):
    def lie(a, root):
        sd(root)[name] = view(sd(root)[name], **changes)
    return lie


def lying_storage(name, nbytes, numel):
    """The tensor's view over a storage of nbytes whose header claims numel elements."""
    def lie(a, root):
        key = f"small{nbytes}"
        a.storages[key] = bytes(range(nbytes))
        sd(root)[name] = view(sd(root)[name], key=key, numel=numel)
    return lie


def set_step(value):
    def lie(a, root):
        root["optimizer_state_dict"]["state"][1]["step"] = value
    return lie


def set_split(values, storage="DoubleStorage", fmt="<d"):
    def lie(a, root):
        root["train_indices"] = a.tensor(values, (len(values),), storage, fmt)
    return lie


def storage_bomb(name, nbytes):
    """The tensor's storage claims nbytes (and its zip entry really inflates to that)."""
    def lie(a, root):
        t = sd(root)[name]
        key = "bomb"
        sd(root)[name] = view(t, key=key, numel=nbytes // 4)
        a.big = [(f"archive/data/{key}", nbytes)]
    return lie


# ---- the cases ------------------------------------------------------------------------------------------------------

# (what, build() -> (archive, root) or (archive, root, pickle bytes), command ('evaluate' or 'resume'),
#  words the error line must hold)
def cases():
    c = []
    ev, res = "evaluate", "resume"
    # Element counts that overflow: numel x 4 wraps to 4 (the review's 2^62 + 1), to 0, or is negative.
    c.append(("storage numel 2^62 + 1 over 4 bytes (x 4 wraps to 4)",
              lambda: seed_checkpoint(lying_storage("output.bias", 4, 2**62 + 1)), ev, ["output.bias", "storage"]))
    c.append(("storage numel 2^62 over 0 bytes (x 4 wraps to 0)",
              lambda: seed_checkpoint(lying_storage("output.bias", 0, 2**62)), ev, ["output.bias", "storage"]))
    c.append(("storage numel 2^62 + 1 over the bias's own 28 bytes",
              lambda: seed_checkpoint(set_tensor("output.bias", numel=2**62 + 1)), ev, ["output.bias", "storage"]))
    c.append(("storage numel -1", lambda: seed_checkpoint(set_tensor("output.bias", numel=-1)), ev, ["output.bias", "storage"]))
    c.append(("storage numel larger than its entry", lambda: seed_checkpoint(set_tensor("output.bias", numel=P + 1)), ev,
              ["output.bias", "bytes"]))
    # Offsets and strides that overflow or point outside.
    c.append(("storage offset 2^63 - 2", lambda: seed_checkpoint(set_tensor("output.bias", offset=2**63 - 2)), ev,
              ["output.bias", "element"]))
    c.append(("storage offset -1", lambda: seed_checkpoint(set_tensor("output.bias", offset=-1)), ev, ["output.bias"]))
    c.append(("storage offset one past the view's room", lambda: seed_checkpoint(set_tensor("output.bias", offset=1)), ev,
              ["output.bias", "reaches"]))
    c.append(("stride 2^61 (segfaulted)", lambda: seed_checkpoint(set_tensor("output.bias", stride=(2**61,))), ev,
              ["output.bias", "stride"]))
    c.append(("stride 2^62 x size 7 overflows int64", lambda: seed_checkpoint(set_tensor("output.weight", stride=(2**62, 1))),
              ev, ["output.weight", "stride"]))
    c.append(("stride pointing past the end", lambda: seed_checkpoint(set_tensor("output.weight", stride=(H, 2))), ev,
              ["output.weight", "reaches"]))
    c.append(("negative stride", lambda: seed_checkpoint(set_tensor("output.bias", stride=(-1,))), ev, ["output.bias", "negative"]))
    c.append(("sizes and strides of different lengths", lambda: seed_checkpoint(set_tensor("output.bias", stride=(1, 1))), ev,
              ["size and stride"]))
    # Zero and huge strides over a one-element storage; shapes that disagree with the model.
    c.append(("zero strides, shape (2^20, 2^20) over one element",
              lambda: seed_checkpoint(set_tensor("output.weight", numel=1, shape=(2**20, 2**20), stride=(0, 0))), ev,
              ["output.weight"]))
    c.append(("a model of 10^12 parameters stated by zero-stride shapes",
              lambda: seed_checkpoint(lambda a, r: [r.pop("config"),
                                                    sd(r).update({k: view(t, shape=s, stride=(0,) * len(s), numel=1) for k, t, s in
                                                                  [("bilinear.weight", sd(r)["bilinear.weight"], (400, 46000, 46000)),
                                                                   ("bilinear.bias", sd(r)["bilinear.bias"], (400,)),
                                                                   ("output.weight", sd(r)["output.weight"], (46000, 400)),
                                                                   ("output.bias", sd(r)["output.bias"], (46000,))]})]), ev,
              ["needs about", "available"]))
    c.append(("shape (P, H + 1) for output.weight",
              lambda: seed_checkpoint(set_tensor("output.weight", shape=(P, H + 1), stride=(H + 1, 1), numel=P * (H + 1))), ev,
              ["output.weight"]))
    c.append(("rank 9 tensor", lambda: seed_checkpoint(set_tensor("output.bias", shape=(1,) * 9, stride=(1,) * 9)), ev,
              ["output.bias"]))
    # Storages that decompress beyond any limit: the size is refused before a byte is inflated.
    c.append(("storage inflating to 300 MiB for a 7-element bias", lambda: seed_checkpoint(storage_bomb("output.bias", 300 << 20)),
              ev, ["output.bias"]))
    c.append(("data.pkl inflating to 300 MiB", lambda: (Archive(), None, "bomb-pickle"), ev, ["data.pkl", "too large"]))
    # Deep and long pickles.
    c.append(("2 million MARKs", lambda: (Archive(), None, b"\x80\x02" + b"(" * 2_000_000 + b"."), ev, ["MARK"]))
    c.append(("3 million values pushed and popped", lambda: (Archive(), None, b"\x80\x02" + b"N0" * 3_000_000 + b"N."), ev,
              ["values"]))
    c.append(("4 million DUPs", lambda: (Archive(), None, b"\x80\x02N" + b"2" * 4_200_000 + b"."), ev, ["stack"]))
    c.append(("memo of 3 million entries", lambda: (Archive(), None, b"\x80\x02N" + b"".join(b"r" + struct.pack("<I", i) for i in range(3_000_000)) + b"."),
              ev, ["memo"]))
    c.append(("an integer wider than 64 bits", lambda: seed_checkpoint(set_tensor("output.bias", numel=2**70)), ev, ["64 bits"]))
    # Duplicate keys at scale: 400,000 distinct keys (quadratic before: ~10^11 comparisons).
    c.append(("a dict of 400,000 keys", lambda: (Archive(), None, b"\x80\x02}(" +
                                                  b"".join(p_str(f"k{i}") + b"N" for i in range(400_000)) + b"u."), ev,
              ["no checkpoint"]))
    # Non-finite or out-of-range numbers where integers belong.
    c.append(("storage numel as a float", lambda: seed_checkpoint(set_tensor("output.bias", numel=7.0)), ev, ["int"]))
    c.append(("shape entry as a float", lambda: seed_checkpoint(set_tensor("output.bias", shape=(7.0,))), ev, ["int"]))
    # The split: pair indices that are NaN, huge, fractional, negative; an overflowing split view.
    c.append(("split index NaN", lambda: seed_checkpoint(set_split([1.0, float("nan")]), split=True), ev, ["split"]))
    c.append(("split index 1e300", lambda: seed_checkpoint(set_split([1.0, 1e300]), split=True), ev, ["split"]))
    c.append(("split index 2.5", lambda: seed_checkpoint(set_split([1.0, 2.5]), split=True), ev, ["split"]))
    c.append(("split index -1", lambda: seed_checkpoint(set_split([1, -1], "LongStorage", "<q"), split=True), ev, ["split"]))
    c.append(("split of 2^40 zero-stride elements",
              lambda: seed_checkpoint(lambda a, r: r.update(train_indices=view(r["train_indices"], shape=(2**40,), stride=(0,))),
                                      split=True), ev, ["split"]))
    c.append(("split storage offset 2^63 - 1",
              lambda: seed_checkpoint(lambda a, r: r.update(train_indices=view(r["train_indices"], offset=I64_MAX)),
                                      split=True), ev, ["split"]))
    # The AdamW state (--resume-from): the same lies in exp_avg, step and the settings.
    c.append(("exp_avg numel 2^62 + 1",
              lambda: seed_checkpoint(lambda a, r: r["optimizer_state_dict"]["state"][3].update(
                  exp_avg=view(r["optimizer_state_dict"]["state"][3]["exp_avg"], numel=2**62 + 1)), optimizer=True), res,
              ["exp_avg", "storage"]))
    c.append(("exp_avg_sq stride 2^61",
              lambda: seed_checkpoint(lambda a, r: r["optimizer_state_dict"]["state"][0].update(
                  exp_avg_sq=view(r["optimizer_state_dict"]["state"][0]["exp_avg_sq"], stride=(2**61, 1, 1))), optimizer=True),
              res, ["exp_avg_sq", "reaches"]))
    c.append(("step tensor of 2^40 zero-stride elements",
              lambda: seed_checkpoint(lambda a, r: r["optimizer_state_dict"]["state"][1].update(
                  step=view(r["optimizer_state_dict"]["state"][1]["step"], shape=(2**40,), stride=(0,))), optimizer=True), res,
              ["step"]))
    c.append(("step NaN", lambda: seed_checkpoint(set_step(float("nan")), optimizer=True), res, ["step"]))
    c.append(("step 1e300", lambda: seed_checkpoint(set_step(1e300), optimizer=True), res, ["step"]))
    c.append(("lr NaN", lambda: seed_checkpoint(lambda a, r: r["optimizer_state_dict"]["param_groups"][0].update(lr=float("nan")),
                                                optimizer=True), res, ["learning-rate"]))
    # The transformer's files: the paper's and TransformerLens's.
    c.append(("transformer W_E stride 2^61",
              lambda: transformer_checkpoint(False, set_tensor("embed.W_E", stride=(2**61, 1))), ev, ["embed.W_E", "stride"]))
    c.append(("transformer W_U zero strides, shape (2^20, 2^20)",
              lambda: transformer_checkpoint(False, set_tensor("unembed.W_U", numel=1, shape=(2**20, 2**20), stride=(0, 0))), ev,
              ["unembed.W_U"]))
    c.append(("transformer heads x d_head overflowing",
              lambda: transformer_checkpoint(False, set_tensor("blocks.0.attn.W_Q", shape=(2**40, 2**30, 8), stride=(0, 0, 0))),
              ev, ["size"]))
    c.append(("TransformerLens b_Q zero strides, shape (2^20, 2^20)",
              lambda: transformer_checkpoint(True, set_tensor("blocks.0.attn.b_Q", numel=1, shape=(2**20, 2**20), stride=(0, 0))),
              ev, ["b_Q"]))
    c.append(("TransformerLens b_U numel 2^62 + 1",
              lambda: transformer_checkpoint(True, set_tensor("unembed.b_U", numel=2**62 + 1)), ev, ["b_U", "storage"]))
    c.append(("paper's split with a pair (1e300, 0)",
              lambda: transformer_checkpoint(False, lambda a, r: r["train_data"].append((1e300, 0, 5))), ev, ["train_data"]))
    c.append(("paper's split with a pair (5, 0) for P = 5",
              lambda: transformer_checkpoint(False, lambda a, r: r["test_data"].append((5, 0, 5))), ev, ["test_data"]))
    return c


def build_file(path, made):
    if len(made) == 3:
        a, _, pickle_bytes = made
        if pickle_bytes == "bomb-pickle":  # 300 MiB of N, POP: inflating it at all would be the attack
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                with z.open("archive/data.pkl", "w", force_zip64=True) as f:
                    chunk = b"N0" * (1 << 19)
                    for _ in range(300):
                        f.write(chunk)
            return
        a.write(path, None, pickle_bytes=pickle_bytes)
        return
    a, root = made
    a.write(path, root, big_entries=getattr(a, "big", ()))


def attempt(failures, d, what, command, path, words, expect_ok=False, timeout=120):
    work = os.path.join(d, "work")
    os.makedirs(work, exist_ok=True)
    before = snapshot(d)
    if command == "evaluate":
        argv = ["evaluate", path]
    else:
        argv = ["train", "--resume-from", path, "--epochs", "4", "--no-progress", "--checkpoint-dir", os.path.join(work, "ck"),
                "--tracking-dir", os.path.join(work, "tracking")]
    t0 = time.monotonic()
    try:
        p = run(*argv, cwd=work, timeout=timeout)
    except subprocess.TimeoutExpired:  # a pickle built to cost quadratic time, say
        failures.check(False, f"{what}: still running after {timeout} s")
        return
    seconds = time.monotonic() - t0
    if expect_ok:
        failures.check(p.returncode == 0, f"{what}: the honest file is read (exit {p.returncode}: {p.stderr.strip()[-300:]})")
        return
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    low = line.lower()
    ok = p.returncode == 1 and len(lines) == 1 and os.path.basename(path) in line and all(w.lower() in low for w in words)
    failures.check(ok, f"{what}: exit {p.returncode}, {len(lines)} line(s) in {seconds:.1f} s: {line[:300]}")
    after = snapshot(d)
    failures.check(not snapshot_diff(before, after), f"{what}: nothing written ({snapshot_diff(before, after)[:3]})")


def main():
    failures = Failures()
    with tempdir() as d:
        # The honest files the lies are made from.
        for what, made, command in [
            ("seed's model", seed_checkpoint(), "evaluate"),
            ("seed's model with its split", seed_checkpoint(split=True), "evaluate"),
            ("seed's run with AdamW's state", seed_checkpoint(optimizer=True, split=True), "resume"),
            ("paper's transformer", transformer_checkpoint(False), "evaluate"),
            ("TransformerLens's transformer", transformer_checkpoint(True), "evaluate"),
        ]:
            path = os.path.join(d, "honest.pt")
            build_file(path, made)
            attempt(failures, d, what, command, path, [], expect_ok=True)
            os.remove(path)
            shutil.rmtree(os.path.join(d, "work"), ignore_errors=True)
        for i, (what, build, command, words) in enumerate(cases()):
            path = os.path.join(d, f"hostile_{i}.pt")
            build_file(path, build())
            attempt(failures, d, what, command, path, words)
            os.remove(path)
    failures.finish()


if __name__ == "__main__":
    main()
