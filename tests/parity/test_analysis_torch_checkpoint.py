"""bilmod reads checkpoints the PyTorch original wrote with torch.save, and never runs code from them.

Makes .pt files with python3-torch for all three models (a dict with model_state_dict, optimizer_state_dict after
a few AdamW steps, config, epoch and the split, one tensor deliberately non-contiguous), then checks that
`bilmod analyze --json` sees the same model: accuracy recomputed against PyTorch's forward pass, interaction-matrix
eigenvalues against numpy. A pickle naming os.system must be refused without running it; a legacy (non-zip)
torch.save file and a zip without data.pkl are clear errors (exit 1).
"""
import collections
import json
import os
import subprocess
import tempfile

import numpy as np
import torch

from checklist import BILMOD, check, close, finish


class Factored(torch.nn.Module):
    def __init__(self, P, H):
        super().__init__()
        self.P = P
        self.left = torch.nn.Linear(2 * P, H, bias=False)
        self.right = torch.nn.Linear(2 * P, H, bias=False)
        self.output = torch.nn.Linear(H, P, bias=False)

    def forward(self, a, b):
        x = torch.nn.functional.one_hot(torch.cat([a, b + self.P]), 2 * self.P).float().view(2, -1, 2 * self.P).sum(0)
        return self.output(self.left(x) * self.right(x))


class Bilinear(torch.nn.Module):
    def __init__(self, P, H):
        super().__init__()
        self.P = P
        self.bilinear = torch.nn.Bilinear(P, P, H)
        self.output = torch.nn.Linear(H, P)

    def forward(self, a, b):
        ea = torch.nn.functional.one_hot(a, self.P).float()
        eb = torch.nn.functional.one_hot(b, self.P).float()
        return self.output(torch.relu(self.bilinear(ea, eb)))


class Mlp(torch.nn.Module):
    def __init__(self, P, H):
        super().__init__()
        self.P = P
        self.hidden = torch.nn.Linear(2 * P, H)
        self.output = torch.nn.Linear(H, P)

    def forward(self, a, b):
        x = torch.nn.functional.one_hot(torch.cat([a, b + self.P]), 2 * self.P).float().view(2, -1, 2 * self.P).sum(0)
        return self.output(torch.relu(self.hidden(x)))


def run(*args):
    return subprocess.run([BILMOD, *args], capture_output=True, text=True)


def make_checkpoint(path, cls, P, H, with_split=True):
    torch.manual_seed(1)
    model = cls(P, H)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.5)
    pairs = torch.randperm(P * P)
    train, val = pairs[: P * P // 2], pairs[P * P // 2:]
    a, b = train // P, train % P
    for _ in range(3):  # a few steps, so the optimizer state holds tensors too
        loss = torch.nn.functional.cross_entropy(model(a, b), (a + b) % P)
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = model.state_dict()
    # One tensor non-contiguous (transposed storage), as a state dict may hold after weight surgery.
    state["output.weight"] = state["output.weight"].t().contiguous().t()
    assert not state["output.weight"].is_contiguous()
    blob = {"epoch": 7, "model_state_dict": state, "optimizer_state_dict": opt.state_dict(),
            "config": {"mod_basis": P, "hidden_dim": H, "learning_rate": 3e-3, "weight_decay": 0.5, "seed": 1,
                       "epochs": 2000, "something_else": [1, 2.5, "x", None, (True, False)]},
            "loss": float(loss)}
    if with_split:
        blob["train_indices"], blob["val_indices"] = train.clone(), val.clone()
    else:  # a config with a seed would make bilmod draw the seed's code's split again
        del blob["config"]["seed"]
    torch.save(blob, path)
    with torch.no_grad():
        acc = lambda idx: float((model(idx // P, idx % P).argmax(1) == (idx // P + idx % P) % P).float().mean())
        return model, acc(train), acc(val), acc(pairs)


def main():
    tmp = tempfile.mkdtemp(prefix="bilmod-torch-")
    P, H = 23, 12
    for name, cls in (("factored", Factored), ("bilinear", Bilinear), ("mlp", Mlp)):
        path = os.path.join(tmp, f"{name}.pt")
        model, train_acc, val_acc, _ = make_checkpoint(path, cls, P, H)
        r = run("analyze", path, "--json")
        if r.returncode != 0:
            check(f"{name}: analyze reads the .pt", False, r.stderr)
            continue
        report = json.loads(r.stdout)
        check(f"{name}: model, P, H, epoch", (report["model"], report["mod_basis"], report["hidden_dim"], report["epoch"]) ==
              (name, P, H, 7), str((report["model"], report["mod_basis"], report["hidden_dim"], report["epoch"])))
        check(f"{name}: source format", report["source_format"] == "torch.save", report["source_format"])
        close(f"{name}: train accuracy against PyTorch", report["train"]["accuracy"], train_acc, atol=1e-6)  # PyTorch averages in float32
        close(f"{name}: validation accuracy against PyTorch", report["val"]["accuracy"], val_acc, atol=1e-6)
        check(f"{name}: ignored config keys are named in a note", any("something_else" in n for n in report["notes"]),
              str(report["notes"]))
        U = model.output.weight.detach().double().numpy()
        for entry in report["classes"]:
            c = entry["class"]
            if name == "factored":
                L = model.left.weight.detach().double().numpy()
                R = model.right.weight.detach().double().numpy()
                M = 0.5 * (L.T @ np.diag(U[c]) @ R + R.T @ np.diag(U[c]) @ L)
            elif name == "bilinear":
                M = np.tensordot(U[c], model.bilinear.weight.detach().double().numpy(), axes=1)
            else:
                continue
            w = np.linalg.eigvalsh((M + M.T) / 2)
            w = np.array(sorted(w, key=lambda x: (-abs(x), -x)))
            n = len(entry["eigenvalues"])
            # float32 weights widened to double in both: agreement to the solver's rounding
            close(f"{name}: eigenvalues of class {c}'s matrix against numpy", entry["eigenvalues"], w[:n], rtol=1e-6,
                  atol=1e-9 * abs(w[0]))

    # Without a saved split, accuracy is over every pair and the report says so.
    path = os.path.join(tmp, "nosplit.pt")
    _, _, _, all_acc = make_checkpoint(path, Factored, P, H, with_split=False)
    r = run("analyze", path, "--json")
    report = json.loads(r.stdout) if r.returncode == 0 else {}
    check("no split: accuracy over every pair", r.returncode == 0 and abs(report["train"]["accuracy"] - all_acc) < 1e-6
          and report["split_known"] is False and report["val"] is None, r.stderr or json.dumps(report.get("train")))

    # visualize-checkpoint draws a .pt too.
    out = os.path.join(tmp, "vis")
    r = run("visualize-checkpoint", os.path.join(tmp, "factored.pt"), "--output-dir", out)
    check("visualize-checkpoint reads a .pt", r.returncode == 0 and os.path.exists(os.path.join(out, "index.html")), r.stderr)

    # A pickle that names a callable outside the allowlist is refused, and nothing runs.
    marker = os.path.join(tmp, "pwned")

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + marker,))

    evil = os.path.join(tmp, "evil.pt")
    torch.save({"model_state_dict": Factored(P, H).state_dict(), "config": {"mod_basis": P}, "payload": Evil()}, evil)
    r = run("analyze", evil)
    check("a pickle naming os.system is refused (exit 1)", r.returncode == 1 and "refused" in r.stderr and "system" in r.stderr,
          f"exit {r.returncode}: {r.stderr}")
    check("the refused payload did not run", not os.path.exists(marker))
    check("the refusal is one line", r.stderr.count("\n") == 1, repr(r.stderr))

    # Legacy torch.save (not a zip) and a zip that is not a torch checkpoint.
    legacy = os.path.join(tmp, "legacy.pt")
    torch.save({"model_state_dict": Factored(P, H).state_dict()}, legacy, _use_new_zipfile_serialization=False)
    r = run("analyze", legacy)
    check("a legacy torch.save file is a clear error (exit 1)", r.returncode == 1 and "legacy.pt" in r.stderr, r.stderr)
    import zipfile
    not_torch = os.path.join(tmp, "other.pt")
    with zipfile.ZipFile(not_torch, "w") as z:
        z.writestr("readme.txt", "hello")
    r = run("analyze", not_torch)
    check("a zip without data.pkl is a clear error (exit 1)", r.returncode == 1 and "data.pkl" in r.stderr, r.stderr)
    # A state dict of some other model.
    other = os.path.join(tmp, "othermodel.pt")
    torch.save({"model_state_dict": collections.OrderedDict(fc=torch.zeros(3))}, other)
    r = run("analyze", other)
    check("a state dict of another model is a clear error (exit 1)", r.returncode == 1 and "none of bilmod's models" in r.stderr, r.stderr)

    finish()


if __name__ == "__main__":
    main()
