"""bilmod.load (python/bilmod_module.cc) reads what the command line reads and gives it to numpy unchanged.

Trains tiny bilinear, factored and transformer models with `bilmod train`, then checks bilmod.load's params against
the safetensors file read here with numpy (bitwise, PyTorch's names and shapes), its optimizer_state against the
file's optimizer.* tensors, its split against data.*, and config, epoch, step and metrics against __metadata__. A
torch.save file the seed's code would write, and the Nanda paper's dict of a transformer, load too (params bitwise).
A truncated file, a file of garbage, a flipped bit, a broken zip and a missing file raise ValueError with the message
`bilmod analyze` prints, not a crash.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import BILMOD, Failures, make_model, read_safetensors, tempdir, train_run  # noqa: E402

import bilmod  # noqa: E402  (build/python, on PYTHONPATH from ctest; README "From Python")

P, H = 11, 6
MODELS = {
    "bilinear": ["--model", "bilinear"],
    "factored": ["--model", "factored"],
    "transformer": ["--model", "transformer", "--d-model", 16, "--num-heads", 2, "--d-mlp", 32],
}


def bitwise_equal(x, y):
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def check_safetensors_checkpoint(failures, kind, d):
    path = os.path.join(d, "checkpoint_epoch_3.safetensors")
    ckpt = bilmod.load(path)
    tensors, meta = read_safetensors(path)
    names = [k for k in tensors if not k.startswith(("optimizer.", "data.", "grokfast.")) and k not in ckpt.buffers]
    failures.check(sorted(ckpt.buffers) == (["blocks.0.attn.mask"] if kind == "transformer" else []) and
                   all(bitwise_equal(v, tensors[k]) for k, v in ckpt.buffers.items()),
                   f"{kind}: buffers {sorted(ckpt.buffers)} equal to the file's")
    failures.check(sorted(ckpt.state_dict()) == sorted(names + list(ckpt.buffers)), f"{kind}: state_dict's names")
    failures.check(sorted(ckpt.params) == sorted(names), f"{kind}: params names {sorted(ckpt.params)}")
    bad = [k for k in names if k not in ckpt.params or not bitwise_equal(ckpt.params[k], tensors[k])]
    failures.check(not bad, f"{kind}: params bitwise equal to the file's tensors (differing: {bad})")
    opt = ckpt.optimizer_state
    failures.check(opt is not None and opt["step"] == int(meta["optimizer_step"]),
                   f"{kind}: optimizer_state step {opt and opt['step']} (file {meta['optimizer_step']})")
    if opt is not None:
        bad = [k for k in names for m in ("exp_avg", "exp_avg_sq")
               if not bitwise_equal(opt[m][k], tensors[f"optimizer.{k}.{m}"])]
        failures.check(not bad, f"{kind}: optimizer exp_avg, exp_avg_sq bitwise equal to the file's (differing: {bad})")
    train, val = ckpt.split
    failures.check(bitwise_equal(train, tensors["data.train_indices"]) and
                   bitwise_equal(val, tensors["data.val_indices"]), f"{kind}: split equal to data.*_indices")
    failures.check(ckpt.config == json.loads(meta["config"]), f"{kind}: config equal to the file's config JSON")
    failures.check((ckpt.epoch, ckpt.step) == (int(meta["epoch"]), int(meta["step"])) and ckpt.epoch == 3,
                   f"{kind}: epoch {ckpt.epoch}, step {ckpt.step} (file {meta['epoch']}, {meta['step']})")
    failures.check(ckpt.metrics == json.loads(meta["metrics"]), f"{kind}: metrics equal to the file's")
    failures.check(ckpt.spec["model"] == kind and ckpt.format == "safetensors", f"{kind}: {ckpt!r}")
    # A folder means its latest checkpoint, as for the command line.
    failures.check(bilmod.load(d).epoch == 3, f"{kind}: a folder loads its latest checkpoint")
    # Views into the loaded state are read-only, copies (weights in PyTorch's order) are the caller's.
    some_view = next(v for v in ckpt.params.values() if not v.flags.writeable) if kind != "factored" else None
    if some_view is not None:
        try:
            some_view[...] = 0
            failures.check(False, f"{kind}: a parameter view is read-only")
        except ValueError:
            failures.check(True, f"{kind}: a parameter view is read-only")


def check_torch_file(failures, d):
    """A .pt as the seed's code saves it: bilmod.load gives its state dict's tensors bitwise."""
    torch.manual_seed(0)
    model = make_model("bilinear", P, H)
    pairs = torch.randperm(P * P)
    path = os.path.join(d, "checkpoint_epoch_4.pt")
    torch.save({"epoch": 4, "model_state_dict": model.state_dict(),
                "config": {"mod_basis": P, "hidden_dim": H, "seed": 0},
                "train_indices": pairs[:60], "val_indices": pairs[60:]}, path)
    ckpt = bilmod.load(path)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    bad = sorted(k for k in state if k not in ckpt.params or not bitwise_equal(ckpt.params[k], state[k]))
    failures.check(ckpt.format == "torch.save" and not bad and sorted(ckpt.params) == sorted(state),
                   f"torch.save: params bitwise equal to the state dict (differing: {bad})")
    train, val = ckpt.split
    failures.check(np.array_equal(train, pairs[:60].numpy()) and np.array_equal(val, pairs[60:].numpy()),
                   "torch.save: split equal to the file's train_indices, val_indices")


def check_paper_file(failures, d):
    """The Nanda paper's torch.save dict ({'model': state_dict, 'epoch'}) of a transformer bilmod trained: the same
    parameters back, bitwise."""
    trained = bilmod.load(os.path.join(d, "checkpoint_epoch_3.safetensors"))
    path = os.path.join(d, "paper.pth")
    torch.save({"model": {k: torch.from_numpy(v.copy()) for k, v in trained.state_dict().items()}, "epoch": 3}, path)
    ckpt = bilmod.load(path)
    bad = sorted(k for k in trained.params if not bitwise_equal(ckpt.params[k], trained.params[k]))
    failures.check(ckpt.format == "torch.save" and ckpt.spec == trained.spec and not bad,
                   f"the paper's .pth: {ckpt.spec['model']}, params bitwise those saved (differing: {bad})")


def cli_message(path):
    proc = subprocess.run([BILMOD, "analyze", path], capture_output=True, text=True)
    return proc.returncode, proc.stderr


def check_bad_files(failures, d):
    good = os.path.join(d, "checkpoint_epoch_3.safetensors")
    with open(good, "rb") as f:
        data = f.read()
    cases = {"truncated.safetensors": data[: len(data) // 2], "garbage.safetensors": b"\x07" * 100,
             "flipped.safetensors": data[:-9] + bytes([data[-9] ^ 0x10]) + data[-8:],
             "zip.pt": b"PK\x03\x04" + b"x" * 60}
    for name, content in cases.items():
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(content)
    cases["missing.safetensors"] = None
    for name in cases:
        path = os.path.join(d, name)
        try:
            bilmod.load(path)
            failures.check(False, f"{name}: bilmod.load raises ValueError")
        except ValueError as e:
            code, stderr = cli_message(path)
            failures.check(code != 0 and str(e) and str(e) in stderr,
                           f"{name}: ValueError with the command line's message: {e} "
                           f"(bilmod analyze: {stderr.strip()})")
    try:
        bilmod.Model(os.path.join(d, "truncated.safetensors"))
        failures.check(False, "bilmod.Model of a bad file raises ValueError")
    except ValueError:
        failures.check(True, "bilmod.Model of a bad file raises ValueError")


def main():
    failures = Failures()
    for kind, args in MODELS.items():
        with tempdir() as d:
            extra = ["--hidden-dim", H] if kind != "transformer" else []
            train_run(d, *args, *extra, "--mod-basis", P, "--epochs", 3, "--checkpoint-every", 0, "--batch-size", 16,
                      "--threads", 1)
            check_safetensors_checkpoint(failures, kind, d)
            if kind == "bilinear":
                check_bad_files(failures, d)
            if kind == "transformer":
                check_paper_file(failures, d)
    with tempdir() as d:
        check_torch_file(failures, d)
    failures.finish()


if __name__ == "__main__":
    main()
