"""bilmod reads the PyTorch files the seed's code and its upstream write, however the module was wrapped.

The seed's trainer runs torch.compile by default, and a compiled module's state dict holds every parameter under
`_orig_mod.`; DataParallel's under `module.`; `torch.save(model.state_dict())` writes a bare state dict. Debian's
torch 1.13 has no torch.compile, so a wrapper module with the attribute `_orig_mod` makes the very state dict it
would save. Each file is written here by torch.save and read by every command that reads a PyTorch file: analyze,
analyze --over-training, visualize-checkpoint, evaluate and train --init-from; their numbers are checked against
PyTorch's own forward pass. A file holding something else gets one clear line (exit 1).
"""
import collections
import json
import os
import subprocess
import tempfile

import numpy as np
import torch

from bilmod_reference import BilinearModel, read_safetensors
from checklist import BILMOD, check, close, finish

torch.set_num_threads(1)


# The seed's model: nn.Bilinear(P, P, H) -> ReLU -> nn.Linear(H, P), with biases (the parity tests' own module).
SeedModel = BilinearModel


class UpstreamModel(torch.nn.Module):
    """The upstream's BilinearModularModel: nn.Bilinear(P, P, P, bias=False) straight to the logits, or with
    use_output_projection nn.Bilinear(P, P, H, bias=False) -> nn.Linear(H, P, bias=False), no activation."""

    def __init__(self, P, H, use_output_projection):
        super().__init__()
        self.P = P
        self.use_output_projection = use_output_projection
        self.bilinear = torch.nn.Bilinear(P, P, H if use_output_projection else P, bias=False)
        if use_output_projection:
            self.output = torch.nn.Linear(H, P, bias=False)

    def forward(self, a, b):
        ea = torch.nn.functional.one_hot(a, self.P).float()
        eb = torch.nn.functional.one_hot(b, self.P).float()
        h = self.bilinear(ea, eb)
        return self.output(h) if self.use_output_projection else h


class Compiled(torch.nn.Module):
    """What torch.compile returns: the module kept as `_orig_mod`, so its state dict keys carry that prefix."""

    def __init__(self, inner):
        super().__init__()
        self._orig_mod = inner

    def forward(self, a, b):
        return self._orig_mod(a, b)


class DataParallelLike(torch.nn.Module):
    """DataParallel keeps the module as `module` (nn.DataParallel itself needs no GPU to wrap, but is spelled out)."""

    def __init__(self, inner):
        super().__init__()
        self.module = inner

    def forward(self, a, b):
        return self.module(a, b)


def run(*args):
    return subprocess.run([BILMOD, *map(str, args)], capture_output=True, text=True)


def trained(P, H, seed=3, steps=4, make=SeedModel):
    """A model after a few AdamW steps on half the pairs (so the weights are not the init's)."""
    torch.manual_seed(seed)
    model = make(P, H)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.5)
    pairs = torch.arange(P * P)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(pairs[::2] // P, pairs[::2] % P), (pairs[::2] // P + pairs[::2] % P) % P)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def all_pair_metrics(model, P, seed=None):
    """Logits of every pair; loss and accuracy on the train split the seed's code draws from `seed` (all pairs
    when None: a file without a config)."""
    pairs = torch.arange(P * P)
    with torch.no_grad():
        logits = model(pairs // P, pairs % P)
    labels = (pairs // P + pairs % P) % P
    train = pairs
    if seed is not None:
        perm = torch.randperm(P * P, generator=torch.Generator().manual_seed(seed))
        train = perm[:int(P * P * 0.8)]
    loss = float(torch.nn.functional.cross_entropy(logits[train].double(), labels[train]))
    return logits.numpy(), loss, float((logits[train].argmax(1) == labels[train]).double().mean())


def seed_config(P, H):
    # vars(TrainingConfig) as the seed saves it, torch.compile on.
    return {"mod_basis": P, "hidden_dim": H, "batch_size": 128, "learning_rate": 3e-3, "weight_decay": 0.5,
            "epochs": 2000, "grad_accum_steps": 1, "checkpoint_dir": "checkpoints", "checkpoint_every": 100,
            "device": "cpu", "compile": True, "seed": 3}


def main():
    tmp = tempfile.mkdtemp(prefix="bilmod-wrappers-")
    P, H = 17, 9
    model, opt = trained(P, H)

    files = {
        "compiled": {"epoch": 99, "model_state_dict": Compiled(model).state_dict(),
                     "optimizer_state_dict": opt.state_dict(), "loss": 1.0, "config": seed_config(P, H)},
        "dataparallel": {"epoch": 99, "model_state_dict": DataParallelLike(model).state_dict(), "config": seed_config(P, H)},
        "both": {"model_state_dict": DataParallelLike(Compiled(model)).state_dict()},
        "bare": model.state_dict(),
        "bare_compiled": Compiled(model).state_dict(),
    }
    check("the wrapper gives torch.compile's keys",
          sorted(files["compiled"]["model_state_dict"]) == ["_orig_mod.bilinear.bias", "_orig_mod.bilinear.weight",
                                                            "_orig_mod.output.bias", "_orig_mod.output.weight"],
          str(list(files["compiled"]["model_state_dict"])))
    for name, blob in files.items():
        config = blob.get("config") if "model_state_dict" in blob else None
        logits, loss, accuracy = all_pair_metrics(model, P, config["seed"] if config else None)
        path = os.path.join(tmp, name + ".pt")
        torch.save(blob, path)
        r = run("analyze", path, "--json")
        if r.returncode != 0:
            check(f"{name}: analyze reads it", False, r.stderr)
            continue
        report = json.loads(r.stdout)
        check(f"{name}: analyze sees the seed's model", (report["model"], report["mod_basis"], report["hidden_dim"]) ==
              ("bilinear", P, H), str((report["model"], report["mod_basis"], report["hidden_dim"])))
        # No split in these files: with the seed's config it is drawn again (torch.randperm), else every pair is one set.
        close(f"{name}: train accuracy against PyTorch", report["train"]["accuracy"], accuracy, atol=1e-9)
        check(f"{name}: the split is known exactly when the file has the seed's config",
              report["split_known"] == (config is not None), str(report["split_known"]))
        if name in ("compiled", "dataparallel", "both", "bare_compiled"):
            check(f"{name}: a note says which prefix was read past", any("prefix" in n for n in report["notes"]),
                  str(report["notes"]))

        out = os.path.join(tmp, name + "-logits.safetensors")
        r = run("evaluate", path, "--output", out)
        if r.returncode != 0:
            check(f"{name}: evaluate reads it", False, r.stderr)
            continue
        ev = json.loads(r.stdout)
        close(f"{name}: evaluate's train loss against PyTorch", ev["train/loss"], loss, rtol=1e-5)
        check(f"{name}: evaluate names no validation split it does not know",
              (ev["val/accuracy"] is None) == (config is None), str(ev))
        ours, _ = read_safetensors(out)
        close(f"{name}: evaluate --output logits against PyTorch's", ours["logits"], logits[ours["pair_index"]],
              rtol=0, atol=1e-5 * max(1.0, float(np.abs(logits).max())))

    # The upstream's two models, compiled, with its config (use_output_projection) or bare without one.
    for projection in (False, True):
        label = "upstream projection" if projection else "upstream direct"
        up, up_opt = trained(P, H, seed=4, make=lambda p, h: UpstreamModel(p, h, projection))
        config = dict(seed_config(P, H), use_output_projection=projection)
        for variant, blob in (("compiled", {"epoch": 9, "model_state_dict": Compiled(up).state_dict(),
                                            "optimizer_state_dict": up_opt.state_dict(), "loss": 1.0, "config": config}),
                              ("bare", up.state_dict())):
            up_logits, _, up_accuracy = all_pair_metrics(up, P, config["seed"] if variant == "compiled" else None)
            path = os.path.join(tmp, f"{label.replace(' ', '_')}_{variant}.pt")
            torch.save(blob, path)
            r = run("analyze", path, "--json")
            if r.returncode != 0:
                check(f"{label} {variant}: analyze reads it", False, r.stderr)
                continue
            report = json.loads(r.stdout)
            want = ("bilinear", P, H if projection else P, "none", False, projection)
            got = tuple(report.get(k) for k in ("model", "mod_basis", "hidden_dim", "activation", "bias", "use_output_projection"))
            check(f"{label} {variant}: analyze sees the model, its width, no activation, no bias", got == want, f"{got} != {want}")
            close(f"{label} {variant}: train accuracy against PyTorch", report["train"]["accuracy"], up_accuracy, atol=1e-9)
            # The class matrices: W[c] itself for the direct model, sum_k U[c,k] W_k with the projection.
            W = up.bilinear.weight.detach().double().numpy()
            for entry in report["classes"]:
                c = entry["class"]
                M = np.tensordot(up.output.weight.detach().double().numpy()[c], W, axes=1) if projection else W[c]
                w = np.linalg.eigvalsh((M + M.T) / 2)
                w = np.array(sorted(w, key=lambda x: (-abs(x), -x)))
                n = len(entry["eigenvalues"])
                close(f"{label} {variant}: class {c}'s matrix's eigenvalues against numpy", entry["eigenvalues"], w[:n],
                      rtol=1e-6, atol=1e-9 * abs(w[0]))
            out = os.path.join(tmp, f"{label.replace(' ', '_')}_{variant}-logits.safetensors")
            r = run("evaluate", path, "--output", out)
            if r.returncode != 0:
                check(f"{label} {variant}: evaluate reads it", False, r.stderr)
                continue
            ours, _ = read_safetensors(out)
            close(f"{label} {variant}: evaluate --output logits against PyTorch's", ours["logits"], up_logits[ours["pair_index"]],
                  rtol=0, atol=1e-5 * max(1.0, float(np.abs(up_logits).max())))
        vis = os.path.join(tmp, "vis-" + label.replace(" ", "_"))
        r = run("visualize-checkpoint", os.path.join(tmp, f"{label.replace(' ', '_')}_compiled.pt"), "--output-dir", vis)
        check(f"{label}: visualize-checkpoint draws it", r.returncode == 0 and os.path.exists(os.path.join(vis, "index.html")),
              r.stderr)
    # A config that contradicts the tensors is refused in one line.
    up, _ = trained(P, H, seed=4, steps=0, make=lambda p, h: UpstreamModel(p, h, False))
    liar = os.path.join(tmp, "liar.pt")
    torch.save({"model_state_dict": up.state_dict(), "config": dict(seed_config(P, H), use_output_projection=True)}, liar)
    r = run("analyze", liar)
    check("a config saying use_output_projection over a direct model's tensors: one line, exit 1",
          r.returncode == 1 and r.stderr.count("\n") == 1 and "use_output_projection" in r.stderr, f"exit {r.returncode}: {r.stderr}")

    # visualize-checkpoint on the compiled file.
    vis = os.path.join(tmp, "vis")
    r = run("visualize-checkpoint", os.path.join(tmp, "compiled.pt"), "--output-dir", vis)
    check("visualize-checkpoint reads a compiled module's file",
          r.returncode == 0 and os.path.exists(os.path.join(vis, "index.html")), r.stderr)

    # analyze --over-training on a folder of the seed's checkpoint_epoch_{N}.pt files.
    run_dir = os.path.join(tmp, "run")
    os.makedirs(run_dir)
    # The same checkpoints with no seed in their config: no split to draw again, so no validation numbers.
    nosplit_dir = os.path.join(tmp, "run_nosplit")
    os.makedirs(nosplit_dir)
    nosplit_config = {k: v for k, v in seed_config(P, H).items() if k != "seed"}
    torch.manual_seed(5)
    m = SeedModel(P, H)
    o = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.5)
    pairs = torch.arange(P * P)
    for epoch in range(3):
        l = torch.nn.functional.cross_entropy(m(pairs // P, pairs % P), (pairs // P + pairs % P) % P)
        o.zero_grad()
        l.backward()
        o.step()
        torch.save({"epoch": epoch, "model_state_dict": Compiled(m).state_dict(), "optimizer_state_dict": o.state_dict(),
                    "loss": float(l), "config": seed_config(P, H)}, os.path.join(run_dir, f"checkpoint_epoch_{epoch}.pt"))
        torch.save({"epoch": epoch, "model_state_dict": m.state_dict(), "config": nosplit_config},
                   os.path.join(nosplit_dir, f"checkpoint_epoch_{epoch}.pt"))
    figs = os.path.join(tmp, "progress")
    r = run("analyze", run_dir, "--over-training", "--output-dir", figs, "--json")
    ok = r.returncode == 0
    check("analyze --over-training reads a folder of the seed's .pt files", ok, r.stderr)
    if ok:
        text = r.stdout
        check("--over-training saw the three epochs", all(f'"epoch": {e}' in text.replace('"epoch":', '"epoch": ').replace("  ", " ")
                                                           for e in (0, 1, 2)) or text.count('"epoch"') >= 3, text[:400])
    # Its validation columns are all NaN: the figure leaves those series out (gnuplot stopped at them: "x range is
    # invalid") and the JSON says null.
    figs_nosplit = os.path.join(tmp, "progress_nosplit")
    r = run("analyze", nosplit_dir, "--over-training", "--output-dir", figs_nosplit, "--json")
    ok = r.returncode == 0 and os.path.getsize(os.path.join(figs_nosplit, "progress_measures.png")) > 0
    check("analyze --over-training on .pt files without a split draws its figure", ok, r.stderr[-500:])
    if ok:
        points = json.loads(r.stdout)["checkpoints"]
        check("without a split: validation loss null, train loss a number at every checkpoint",
              len(points) == 3 and all(p["val_loss"] is None and p["train_loss"] is not None for p in points),
              r.stdout[:400])
    r = run("analyze", run_dir, "--json")
    check("a folder of .pt files resolves to its last epoch",
          r.returncode == 0 and json.loads(r.stdout)["epoch"] == 2, r.stderr or r.stdout[:200])

    # train --init-from a compiled module's file: the run's first checkpoint holds those parameters.
    ckpts = os.path.join(tmp, "init")
    r = run("train", "--model", "bilinear", "--mod-basis", P, "--hidden-dim", H, "--epochs", 0,
            "--init-from", os.path.join(tmp, "compiled.pt"), "--checkpoint-dir", ckpts, "--no-progress", "--no-track")
    if r.returncode != 0:
        check("train --init-from reads a compiled module's file", False, r.stderr)
    else:
        t, _ = read_safetensors(os.path.join(ckpts, "checkpoint_epoch_0.safetensors"))
        same = all(np.array_equal(t[k], v.numpy()) for k, v in model.state_dict().items())
        check("train --init-from takes the file's parameters bit for bit", same)
    r = run("train", "--model", "bilinear", "--mod-basis", P, "--hidden-dim", H + 1, "--epochs", 0,
            "--init-from", os.path.join(tmp, "compiled.pt"), "--checkpoint-dir", os.path.join(tmp, "init2"),
            "--no-progress", "--no-track")
    check("train --init-from a file of another shape: one line, exit 1",
          r.returncode == 1 and r.stderr.count("\n") == 1 and "H = 9" in r.stderr, f"exit {r.returncode}: {r.stderr}")

    # Files that are none of these: one line naming what they hold and what would be accepted.
    other = os.path.join(tmp, "othermodel.pt")
    torch.save({"model_state_dict": collections.OrderedDict([("_orig_mod.fc.weight", torch.zeros(3, 2))])}, other)
    r = run("analyze", other)
    check("another model under _orig_mod.: one line naming its tensors and bilmod's models (exit 1)",
          r.returncode == 1 and r.stderr.count("\n") == 1 and "fc.weight" in r.stderr and "bilinear.weight" in r.stderr,
          f"exit {r.returncode}: {r.stderr}")
    notckpt = os.path.join(tmp, "list.pt")
    torch.save({"weights": [1, 2, 3], "note": "hello"}, notckpt)
    for command in (["analyze", notckpt], ["evaluate", notckpt]):
        r = run(*command)
        check(f"{command[0]}: a dict that holds no state dict: one line naming its keys (exit 1)",
              r.returncode == 1 and r.stderr.count("\n") == 1 and "weights" in r.stderr and "model_state_dict" in r.stderr,
              f"exit {r.returncode}: {r.stderr}")
    finish()


if __name__ == "__main__":
    main()
