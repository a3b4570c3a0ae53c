"""`bilmod train --resume-from RUN.pt` continues a run the seed's code or its upstream began in PyTorch (issue 14).

1. The upstream's split is torch.randperm(N, generator=torch.Generator().manual_seed(seed)), the first int(0.8 N) train:
   `bilmod dataset --split torch` reproduces it bit for bit, checked against torch here for several P and seeds.
2. Runs begun here in PyTorch as the seed and the upstream run them (their modules, AdamW, their split, minibatches of
   128, torch.compile's `_orig_mod.` keys, their checkpoint dict), saved with torch.save, then continued full-batch both
   by bilmod and by PyTorch: per-step losses, final parameters and AdamW state agree within the parity tolerances
   (tests/parity/test_parity_optimizer.py's).
"""
import json
import os
import subprocess

import numpy as np
import torch
import torch.nn.functional as F

from bilmod_reference import (BILMOD, PARAM_RTOL, Failures, UpstreamBilinearModel, check_step_losses, read_safetensors,
                              relative_difference, run_bilmod, step_losses, tempdir)

torch.set_num_threads(1)


class Compiled(torch.nn.Module):
    """torch.compile's wrapper as its state dict sees it (Debian's torch 1.13 has no torch.compile)."""

    def __init__(self, inner):
        super().__init__()
        self._orig_mod = inner


def torch_split(n, seed, frac=0.8):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = int(n * frac)
    return perm[:k], perm[k:]


def check_split(failures):
    with tempdir() as d:
        for p, seed, frac in [(2, 0, 0.8), (7, 1, 0.8), (23, 42, 0.8), (97, 12345, 0.8), (113, 0, 0.8), (113, 2**32 + 7, 0.8),
                              (59, 3, 0.3)]:
            out = os.path.join(d, f"split-{p}-{seed}.safetensors")
            run_bilmod("dataset", "--mod-basis", p, "--seed", seed, "--train-frac", frac, "--split", "torch", "--output", out)
            got, _ = read_safetensors(out)
            train, val = torch_split(p * p, seed, frac)
            failures.check(np.array_equal(got["data.train_indices"], train.numpy()) and
                           np.array_equal(got["data.val_indices"], val.numpy()),
                           f"split of P = {p} (N = {p * p}), seed {seed}, frac {frac}: torch.randperm's, bit for bit")


# AdamW's settings in the saved optimizer state: none is bilmod's default (lr 3e-3, betas (0.9, 0.999), eps 1e-8,
# weight decay 0.5), and the saved config states those defaults instead, so a reader that took its settings from
# anywhere but the optimizer's param_groups continues another run and fails the loss and state comparisons.
ADAMW = dict(lr=1.7e-3, betas=(0.85, 0.97), eps=3e-7, weight_decay=0.21)


def begin_in_pytorch(path, P, H, projection, bias, activation, seed, epochs, batch=128):
    """Trains as the upstream's train() does (its seed, module, AdamW, split, minibatches) and saves its checkpoint."""
    torch.manual_seed(seed)
    model = UpstreamBilinearModel(P, H, projection, bias, activation)
    opt = torch.optim.AdamW(model.parameters(), **ADAMW)
    train, _ = torch_split(P * P, seed)
    loss = None
    for epoch in range(epochs):
        order = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + epoch))]
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            a, b = idx // P, idx % P
            target = F.one_hot((a + b) % P, P).float()  # the upstream's one-hot targets
            loss = F.cross_entropy(model(a, b), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    config = {"mod_basis": P, "hidden_dim": H, "batch_size": batch, "learning_rate": 3e-3, "weight_decay": 0.5,
              "epochs": 2000, "grad_accum_steps": 1, "checkpoint_dir": "checkpoints", "checkpoint_every": 100,
              "device": "cpu", "compile": True, "seed": seed}
    if activation == "none":  # the upstream's config; the seed's has no use_output_projection
        config["use_output_projection"] = projection
    torch.save({"epoch": epochs - 1, "model_state_dict": Compiled(model).state_dict(),
                "optimizer_state_dict": opt.state_dict(), "loss": float(loss), "config": config}, path)
    return model, opt, train


def continue_in_pytorch(model, opt, train, P, steps):
    losses = []
    a, b = train // P, train % P
    for _ in range(steps):
        loss = F.cross_entropy(model(a, b), (a + b) % P)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


CASES = [
    dict(name="upstream direct", P=17, H=100, projection=False, bias=False, activation="none", seed=0, epochs=3),
    dict(name="upstream projection", P=19, H=12, projection=True, bias=False, activation="none", seed=5, epochs=2),
    dict(name="seed (biases, ReLU)", P=17, H=10, projection=True, bias=True, activation="relu", seed=2, epochs=2),
]


def main():
    failures = Failures()
    check_split(failures)
    more = 30
    for c in CASES:
        with tempdir() as d:
            pt = os.path.join(d, f"checkpoint_epoch_{c['epochs'] - 1}.pt")
            model, opt, train = begin_in_pytorch(pt, c["P"], c["H"], c["projection"], c["bias"], c["activation"],
                                                 c["seed"], c["epochs"])
            log = os.path.join(d, "log.jsonl")
            out = os.path.join(d, "continued")
            proc = run_bilmod("train", "--resume-from", pt, "--full-batch", "--epochs", c["epochs"] + more,
                              "--checkpoint-dir", out, "--checkpoint-every", 0, "--no-progress", "--no-track",
                              "--threads", 1, "--log-level", "DEBUG", "--log-file", log)
            said = proc.stdout + proc.stderr
            failures.check("batch order" in said and "bilmod" in said,
                           f"{c['name']}: the start says the batch order from here on is bilmod's")
            ours = step_losses(log)
            theirs = continue_in_pytorch(model, opt, train, c["P"], more)
            check_step_losses(failures, c["name"] + " after the resume", ours, theirs)
            final, meta = read_safetensors(os.path.join(out, f"checkpoint_epoch_{c['epochs'] + more}.safetensors"))
            failures.check(np.array_equal(final["data.train_indices"], train.numpy()),
                           f"{c['name']}: the resumed run trains on the upstream's split")
            state = opt.state_dict()["state"]
            for i, (name, param) in enumerate(model.named_parameters()):
                diff = relative_difference(final[name], param.detach().numpy())
                failures.check(diff <= PARAM_RTOL, f"{c['name']}: final {name}, largest difference {diff:.3g} (limit {PARAM_RTOL})")
                for slot in ("exp_avg", "exp_avg_sq"):
                    diff = relative_difference(final[f"optimizer.{name}.{slot}"], state[i][slot].numpy())
                    failures.check(diff <= PARAM_RTOL, f"{c['name']}: final AdamW {slot} of {name}, largest difference "
                                                       f"{diff:.3g} (limit {PARAM_RTOL})")
            failures.check(int(meta["optimizer_step"]) == int(state[0]["step"]),
                           f"{c['name']}: AdamW's step count {meta['optimizer_step']} (PyTorch {int(state[0]['step'])})")
            cfg = json.loads(meta["config"])
            got = dict(lr=cfg["learning_rate"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
                       weight_decay=cfg["weight_decay"])
            failures.check(got == ADAMW, f"{c['name']}: the run goes on with the file's AdamW settings {got}")

    # A .pt file without optimizer state cannot be continued: one line, exit 1.
    with tempdir() as d:
        pt = os.path.join(d, "bare.pt")
        torch.save(UpstreamBilinearModel(11, 11).state_dict(), pt)
        proc = subprocess.run([BILMOD, "train", "--resume-from", pt, "--checkpoint-dir", os.path.join(d, "x"), "--no-progress",
                               "--no-track"], capture_output=True, text=True)
        failures.check(proc.returncode == 1 and proc.stderr.count("\n") == 1 and "optimizer_state_dict" in proc.stderr,
                       f"resuming a bare state dict: one line naming what is missing (exit {proc.returncode}: {proc.stderr.strip()})")
    failures.finish()


if __name__ == "__main__":
    main()
