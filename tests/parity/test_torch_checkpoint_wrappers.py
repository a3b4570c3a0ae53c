"""bilmod reads the seed's .pt files however its module was wrapped when torch.save ran.

The seed's trainer runs torch.compile by default, and a compiled module's state dict holds every parameter under
`_orig_mod.`; DataParallel's under `module.` (both, nested, when one wraps the other); `torch.save(model.state_dict())`
writes a bare state dict. Debian's torch 1.13 has no torch.compile, so a wrapper module whose attribute is `_orig_mod`
makes the very state dict it would save. Each file is written here by torch.save and read by analyze --json (model, P,
H, the note naming the prefix, accuracy against PyTorch's forward pass), evaluate, visualize-checkpoint and
train --init-from. A file holding something else is refused with one line (exit 1).
"""
import json
import os
import subprocess
import tempfile

import torch

from checklist import BILMOD, check, close, finish

torch.set_num_threads(1)


class SeedModel(torch.nn.Module):
    """The seed's model: nn.Bilinear(P, P, H) -> ReLU -> nn.Linear(H, P)."""

    def __init__(self, P, H):
        super().__init__()
        self.P = P
        self.bilinear = torch.nn.Bilinear(P, P, H)
        self.output = torch.nn.Linear(H, P)

    def forward(self, a, b):
        ea = torch.nn.functional.one_hot(a, self.P).float()
        eb = torch.nn.functional.one_hot(b, self.P).float()
        return self.output(torch.relu(self.bilinear(ea, eb)))


class Compiled(torch.nn.Module):
    """What torch.compile returns: the module kept as `_orig_mod`, so its state dict's names carry that prefix."""

    def __init__(self, inner):
        super().__init__()
        self._orig_mod = inner


class DataParallelLike(torch.nn.Module):
    """DataParallel keeps the module as `module`."""

    def __init__(self, inner):
        super().__init__()
        self.module = inner


def run(*args):
    return subprocess.run([BILMOD, *map(str, args)], capture_output=True, text=True)


def trained(P, H, seed):
    """The seed's model after a few AdamW steps on half the pairs (so the weights are not the init's)."""
    torch.manual_seed(seed)
    model = SeedModel(P, H)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.5)
    pairs = torch.arange(P * P)[::2]
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(model(pairs // P, pairs % P), (pairs // P + pairs % P) % P)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def accuracy(model, P, idx):
    with torch.no_grad():
        return float((model(idx // P, idx % P).argmax(1) == (idx // P + idx % P) % P).double().mean())


def main():
    tmp = tempfile.mkdtemp(prefix="bilmod-wrappers-")
    P, H = 13, 9
    all_pairs = torch.arange(P * P)
    # name -> (wrap, the prefix its names carry, the notes' prefixes, whether the file is a bare state dict)
    cases = {
        "compiled": (Compiled, "_orig_mod.", ["_orig_mod."], False),
        "dataparallel": (DataParallelLike, "module.", ["module."], False),
        "dataparallel_of_compiled": (lambda m: DataParallelLike(Compiled(m)), "module._orig_mod.",
                                     ["module.", "_orig_mod."], False),
        "bare": (lambda m: m, "", [], True),
        "bare_compiled": (Compiled, "_orig_mod.", ["_orig_mod."], True),
    }
    files = {}
    for i, (name, (wrap, prefix, notes_for, bare)) in enumerate(cases.items()):
        model = trained(P, H, seed=10 + i)
        state = wrap(model).state_dict()
        check(f"{name}: the wrapper's state dict carries '{prefix}'",
              sorted(state) == sorted(prefix + k for k in ("bilinear.weight", "bilinear.bias", "output.weight", "output.bias")),
              str(list(state)))
        path = os.path.join(tmp, f"{name}.pt")
        perm = torch.randperm(P * P, generator=torch.Generator().manual_seed(i))
        train, val = perm[: P * P // 2], perm[P * P // 2:]
        if bare:
            torch.save(state, path)
        else:  # as the seed's trainer saves it (vars(TrainingConfig), compile on), plus a split
            torch.save({"epoch": 5, "model_state_dict": state, "config": {"mod_basis": P, "hidden_dim": H, "seed": 3,
                        "compile": True, "device": "cpu"}, "train_indices": train, "val_indices": val}, path)
        files[name] = path
        r = run("analyze", path, "--json")
        if r.returncode != 0:
            check(f"{name}: analyze --json reads it", False, f"exit {r.returncode}: {r.stderr}")
            continue
        report = json.loads(r.stdout)
        check(f"{name}: model, P, H", (report["model"], report["mod_basis"], report["hidden_dim"]) == ("bilinear", P, H),
              str((report["model"], report["mod_basis"], report["hidden_dim"])))
        prefix_notes = [n for n in report["notes"] if "prefix" in n]
        check(f"{name}: a note names each prefix read past",
              len(prefix_notes) == len(notes_for) and all(f"'{p}'" in n for p, n in zip(notes_for, prefix_notes)),
              str(report["notes"]))
        if bare:  # no split saved: accuracy over every pair
            close(f"{name}: accuracy over every pair against PyTorch", report["train"]["accuracy"],
                  accuracy(model, P, all_pairs), atol=1e-9)
        else:
            close(f"{name}: train accuracy against PyTorch", report["train"]["accuracy"], accuracy(model, P, train), atol=1e-9)
            close(f"{name}: validation accuracy against PyTorch", report["val"]["accuracy"], accuracy(model, P, val),
                  atol=1e-9)

    # The other commands that read a .pt file go through the same reader.
    r = run("evaluate", files["compiled"])
    ok = r.returncode == 0
    check("evaluate reads the compiled module's file", ok, r.stderr)
    if ok:
        model = trained(P, H, seed=10)
        perm = torch.randperm(P * P, generator=torch.Generator().manual_seed(0))
        close("evaluate: validation accuracy against PyTorch", json.loads(r.stdout)["val/accuracy"],
              accuracy(model, P, perm[P * P // 2:]), atol=1e-9)
    out = os.path.join(tmp, "vis")
    r = run("visualize-checkpoint", files["dataparallel_of_compiled"], "--output-dir", out, "--num-matrices", 1)
    check("visualize-checkpoint reads the nested wrappers' file",
          r.returncode == 0 and os.path.exists(os.path.join(out, "index.html")), r.stderr)
    run_dir = os.path.join(tmp, "init")
    r = run("train", "--mod-basis", P, "--hidden-dim", H, "--epochs", 1, "--init-from", files["bare_compiled"],
            "--checkpoint-dir", run_dir)
    check("train --init-from reads a compiled module's bare state dict", r.returncode == 0, r.stderr[-600:])

    # A file holding something else: one line naming what it holds and what would be accepted.
    bad = os.path.join(tmp, "bad.pt")
    torch.save({"weights": [1.0, 2.0], "note": "not a model"}, bad)
    r = run("analyze", bad, "--json")
    check("a dict that is no checkpoint is refused (exit 1)", r.returncode == 1, f"exit {r.returncode}: {r.stderr}")
    check("the refusal is one line naming what it holds and what is accepted",
          r.stderr.count("\n") == 1 and "weights" in r.stderr and "note" in r.stderr and "model_state_dict" in r.stderr
          and "_orig_mod." in r.stderr and r.stdout == "", repr(r.stderr))
    finish()


if __name__ == "__main__":
    main()
