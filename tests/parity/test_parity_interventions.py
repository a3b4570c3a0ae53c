"""Parity with PyTorch of the grokking interventions (issue 16): from the same initial parameters and split, bilmod's
steps with --grokfast ema|ma, --orthograd, --loss stablemax|mse and --loss-precision float64 give the losses and
parameters of the reference formulas run here in PyTorch, full batch and mini-batch with accumulation; and the measures
logged with the last evaluation (softmax collapse, per-tensor weight norms, input-weight Fourier IPR) match the same
quantities computed here from the final parameters.

The reference formulas are written from the issue and the papers' public code (grokfast.py's gradfilter_ema and
gradfilter_ma, stablemax_cross_entropy, cross_entropy_float64 and OrthoGrad of grokking-at-the-edge-of-numerical-
stability), not from bilmod's code.
"""
import json
import os
from collections import deque

import torch
import torch.nn.functional as F

from bilmod_reference import (Failures, check_final_tensors, check_step_losses, make_model, step_batches,
                              read_safetensors, run_bilmod, state_dict_numpy, step_losses, tempdir, write_safetensors)

torch.set_num_threads(1)


# --- the reference formulas -----------------------------------------------------------------------------------------
def gradfilter_ema(model, grads, alpha, lamb):
    """Grokfast-EMA: the state starts as the first gradient; state = state*alpha + g*(1-alpha); g = g + state*lamb."""
    if grads is None:
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        grads[n] = grads[n] * alpha + p.grad.detach() * (1 - alpha)
        p.grad = p.grad + grads[n] * lamb
    return grads


def gradfilter_ma(model, grads, window, lamb):
    """Grokfast-MA (warmup=True): the last `window` raw gradients; once full, g = g + mean(window)*lamb."""
    if grads is None:
        grads = {n: deque(maxlen=window) for n, _ in model.named_parameters()}
    for n, p in model.named_parameters():
        grads[n].append(p.grad.detach().clone())
        if len(grads[n]) == window:
            p.grad = p.grad + (sum(grads[n]) / len(grads[n])) * lamb
    return grads


def orthogonalize(model):
    """OrthoGrad: g_orth = g - (w.g)/(w.w + 1e-30) w, rescaled to ||g|| / (||g_orth|| + 1e-30)."""
    with torch.no_grad():
        for p in model.parameters():
            w, g = p.view(-1), p.grad.view(-1)
            g_orth = g - (torch.dot(w, g) / (torch.dot(w, w) + 1e-30)) * w
            p.grad.copy_((g_orth * (g.norm(2) / (g_orth.norm(2) + 1e-30))).view_as(p.grad))


def stablemax_cross_entropy(logits, labels):
    x = logits.to(torch.float64)
    s = torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    logprobs = torch.log(s / torch.sum(s, dim=-1, keepdim=True))
    return -torch.mean(torch.gather(logprobs, index=labels[:, None], dim=-1))


def cross_entropy_float64(logits, labels):
    logprobs = F.log_softmax(logits.to(torch.float64), dim=-1)
    return -torch.mean(torch.gather(logprobs, index=labels[:, None], dim=-1))


def mse_one_hot(logits, labels, float64):
    x = logits.to(torch.float64) if float64 else logits
    return F.mse_loss(x, F.one_hot(labels, logits.shape[-1]).to(x.dtype))  # mean over batch and classes


def loss_fn(c):
    if c["loss"] == "stablemax":
        return stablemax_cross_entropy
    if c["loss"] == "mse":
        return lambda x, y: mse_one_hot(x, y, c["precision"] == "float64")
    if c["precision"] == "float64":
        return cross_entropy_float64
    return F.cross_entropy


def reference_run(model, train_pairs, c):
    p, n = c["p"], len(train_pairs)
    if c["optimizer"] == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["wd"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=c["lr"], weight_decay=c["wd"], momentum=c["momentum"])
    micro = n if c["full_batch"] else c["batch_size"]
    accum = c["accum"]
    criterion = loss_fn(c)
    losses, filt = [], None
    for group in step_batches(train_pairs, p, c["epochs"], c["seed"], micro, accum):
        opt.zero_grad()
        batch_loss = 0.0
        for a, b in group:
            loss = criterion(model(a, b), (a + b) % p)
            (loss / accum).backward()
            batch_loss += loss.item()
        if c["grokfast"] == "ema":
            filt = gradfilter_ema(model, filt, c["alpha"], c["lamb"])
        elif c["grokfast"] == "ma":
            filt = gradfilter_ma(model, filt, c["window"], c["lamb"])
        if c["orthograd"]:
            orthogonalize(model)
        opt.step()
        losses.append(batch_loss / len(group))
    return losses


# --- the measures, from the final parameters --------------------------------------------------------------------------
def fourier_ipr(model, c):
    """Mean over units (and their a and b blocks) of sum_k e_k^2 / (sum_k e_k)^2, e_k the energy at frequency k of the
    real Fourier basis (|F_0|^2, 2|F_k|^2, |F_{P/2}|^2) of the unit's input weights."""
    p = c["p"]
    mats = [model.left.weight, model.right.weight] if c["model"] == "factored" else [model.hidden.weight]
    iprs = []
    for m in mats:
        for block in (m[:, :p], m[:, p:]):
            f = torch.fft.rfft(block.detach().to(torch.float64), dim=1)
            e = f.abs() ** 2
            e[:, 1:(p + 1) // 2] *= 2
            iprs.append((e ** 2).sum(1) / e.sum(1) ** 2)
    return float(torch.cat(iprs).mean())


def softmax_collapse(model, train_pairs, p):
    idx = torch.tensor(train_pairs)
    with torch.no_grad():
        logits = model(idx // p, idx % p)
    e = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    total = torch.zeros(len(train_pairs), dtype=torch.float32)
    for col in range(p):  # float32, in class order
        total = total + e[:, col]
    return float((total == 1.0).float().mean())


CASES = [
    dict(name="factored full-batch grokfast ema", model="factored", p=31, h=24, full_batch=True, epochs=40,
         grokfast="ema", alpha=0.98, lamb=2.0),
    dict(name="factored minibatch+accum grokfast ma", model="factored", p=23, h=16, epochs=4, batch_size=16, accum=3,
         seed=5, grokfast="ma", window=5, lamb=5.0),
    dict(name="bilinear minibatch grokfast ema (dense path)", model="bilinear", p=17, h=10, epochs=3, batch_size=24,
         seed=3, grokfast="ema", alpha=0.9, lamb=3.0),
    dict(name="mlp minibatch+accum grokfast ema", model="mlp", p=23, h=16, epochs=3, batch_size=16, accum=2, seed=8,
         grokfast="ema", alpha=0.98, lamb=2.0),
    dict(name="mlp full-batch grokfast ma", model="mlp", p=23, h=20, full_batch=True, epochs=30, grokfast="ma",
         window=10, lamb=5.0),
    dict(name="mlp full-batch orthograd adamw", model="mlp", p=23, h=20, full_batch=True, epochs=40, orthograd=True,
         wd=0.0, lr=1e-2),
    dict(name="factored full-batch orthograd sgd", model="factored", p=23, h=16, full_batch=True, epochs=40,
         orthograd=True, optimizer="sgd", lr=0.5, wd=0.0, momentum=0.9),
    dict(name="factored minibatch+accum orthograd", model="factored", p=23, h=16, epochs=3, batch_size=16, accum=2,
         seed=2, orthograd=True),
    dict(name="factored full-batch stablemax", model="factored", p=31, h=24, full_batch=True, epochs=40,
         loss="stablemax"),
    dict(name="mlp minibatch+accum stablemax", model="mlp", p=23, h=16, epochs=3, batch_size=16, accum=3, seed=4,
         loss="stablemax"),
    dict(name="factored full-batch float64 cross-entropy", model="factored", p=31, h=24, full_batch=True, epochs=40,
         precision="float64"),
    dict(name="mlp minibatch+accum float64 cross-entropy", model="mlp", p=23, h=16, epochs=3, batch_size=16, accum=2,
         seed=1, precision="float64"),
    dict(name="factored full-batch mse", model="factored", p=23, h=16, full_batch=True, epochs=40, loss="mse",
         lr=1e-2),
    dict(name="mlp minibatch+accum mse float64", model="mlp", p=23, h=16, epochs=3, batch_size=16, accum=3, seed=6,
         loss="mse", precision="float64", lr=1e-2),
    dict(name="bilinear minibatch ema + orthograd + stablemax", model="bilinear", p=17, h=10, epochs=3, batch_size=24,
         seed=7, grokfast="ema", alpha=0.95, lamb=2.0, orthograd=True, loss="stablemax"),
]


def main():
    failures = Failures()
    for case in CASES:
        c = dict(activation="relu", optimizer="adamw", lr=3e-3, wd=0.5, momentum=0.0, batch_size=128, accum=1, seed=0,
                 train_frac=0.4, full_batch=False, grokfast="none", alpha=0.98, lamb=2.0, window=100, orthograd=False,
                 loss="cross_entropy", precision="float32")
        c.update(case)
        with tempdir() as d:
            torch.manual_seed(1234)
            model = make_model(c["model"], c["p"], c["h"], c["activation"])
            init = os.path.join(d, "init.safetensors")
            write_safetensors(init, state_dict_numpy(model))
            log = os.path.join(d, "log.jsonl")
            args = ["train", "--model", c["model"], "--mod-basis", c["p"], "--hidden-dim", c["h"],
                    "--optimizer", c["optimizer"], "--learning-rate", c["lr"], "--weight-decay", c["wd"],
                    "--momentum", c["momentum"], "--epochs", c["epochs"], "--batch-size", c["batch_size"],
                    "--grad-accum-steps", c["accum"], "--seed", c["seed"], "--train-frac", c["train_frac"],
                    "--grokfast", c["grokfast"], "--grokfast-alpha", c["alpha"], "--grokfast-lamb", c["lamb"],
                    "--grokfast-window", c["window"], "--loss", c["loss"], "--loss-precision", c["precision"],
                    "--init-from", init, "--checkpoint-dir", d, "--checkpoint-every", 0, "--no-progress",
                    "--log-level", "DEBUG", "--log-file", log, "--threads", 1, "--no-track"]
            if c["full_batch"]:
                args.append("--full-batch")
            if c["orthograd"]:
                args.append("--orthograd")
            run_bilmod(*args)
            first, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
            train_pairs = [int(x) for x in first["data.train_indices"]]
            ours = step_losses(log)
            theirs = reference_run(model, train_pairs, c)
            check_step_losses(failures, c["name"], ours, theirs)
            final, meta = read_safetensors(os.path.join(d, f"checkpoint_epoch_{c['epochs']}.safetensors"))
            reference = state_dict_numpy(model)
            check_final_tensors(failures, c["name"], final, reference)
            # The measures of the last evaluation, against the same quantities of bilmod's final parameters in torch.
            metrics = json.loads(meta["metrics"])
            ours_model = make_model(c["model"], c["p"], c["h"], c["activation"])
            ours_model.load_state_dict({k: torch.from_numpy(final[k]) for k in reference})
            for name, value in ours_model.state_dict().items():
                want = float(torch.linalg.vector_norm(value.to(torch.float64)))
                got = metrics.get(f"weight_norm/{name}")
                failures.check(got is not None and abs(got - want) <= 1e-12 * max(want, 1e-30),
                               f"{c['name']}: weight_norm/{name} {got} (torch {want:.17g})")
            if c["model"] != "bilinear":
                want = fourier_ipr(ours_model, c)
                got = metrics.get("fourier_ipr")
                failures.check(got is not None and abs(got - want) <= 1e-9 * want,
                               f"{c['name']}: fourier_ipr {got} (torch {want:.17g})")
            else:
                failures.check("fourier_ipr" not in metrics, f"{c['name']}: no fourier_ipr for bilinear")
            want = softmax_collapse(ours_model, train_pairs, c["p"])
            got = metrics.get("softmax_collapse")
            failures.check(got == want, f"{c['name']}: softmax_collapse {got} (torch {want})")
    failures.finish()


if __name__ == "__main__":
    main()
