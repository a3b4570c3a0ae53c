"""Gradient symmetricity of --model clock-pizza against PyTorch autograd on the paper's module (pizza_reference.py),
computed here, for a model trained with --eqn-sign and --diff-vocab (its own input is [a, b + P, '=']):
- gradient_symmetricity: d logit_c / d t_p (t_p the token embedding at position p, before W_pos; logits at the last
  position) on the model's own input for every pair, in float64, the cosine of positions 0 and 1, mean over all P^3;
- gradient_symmetricity_paper: eval-main.ipynb's cell 12 itself: the triples by Python's random.Random(42).shuffle, the
  first 100, each fed as the cell feeds it, x = [[a, b]] (two positions, b unshifted, logits at position 1), o[c]
  backward, numpy's cosine, tt / 100;
and one block with ReLU at alpha 0.7 without the options (where both inputs are the model's own).
Each must equal `bilmod analyze --json`'s value.
"""
import json
import os
import random

import numpy as np
import torch

from bilmod_reference import Failures, read_safetensors, run_bilmod, tempdir, train_run
from pizza_reference import Transformer

torch.set_num_threads(1)
P, D_MODEL, HEADS = 11, 16, 2


def model_from(path, layers, alpha, act, diff_vocab, eqn_sign):
    tensors, _ = read_safetensors(path)
    vocab = P * (2 if diff_vocab else 1) + (1 if eqn_sign else 0)
    model = Transformer(layers, vocab, D_MODEL, D_MODEL // HEADS, HEADS, 3 if eqn_sign else 2, act, alpha).double()
    model.load_state_dict({k: torch.from_numpy(v).double() for k, v in tensors.items()
                           if not k.startswith(("optimizer.", "data."))}, strict=True)
    return model


def forward_from_embeddings(model, t):
    x = model.pos_embed(t)
    for block in model.blocks:
        x = block(x)
    return model.unembed(x)[:, -1, :]


def exact_mean(model, diff_vocab, eqn_sign):
    a = torch.arange(P).repeat_interleave(P)
    b = torch.arange(P).repeat(P)
    rows = [a, b + (P if diff_vocab else 0)]
    if eqn_sign:
        rows.append(torch.full_like(a, model.embed.W_E.shape[1] - 1))
    t = model.embed(torch.stack(rows, dim=1)).detach().requires_grad_(True)
    logits = forward_from_embeddings(model, t)
    total = 0.0
    for c in range(P):
        (g,) = torch.autograd.grad(logits[:, c].sum(), t, retain_graph=True)
        g0, g1 = g[:, 0].numpy(), g[:, 1].numpy()
        total += np.sum(np.sum(g0 * g1, 1) / np.sqrt(np.sum(g0 ** 2, 1)) / np.sqrt(np.sum(g1 ** 2, 1)))
    return total / P ** 3


def notebook_estimate(model):
    tt = 0
    xs = [(a, b, c) for a in range(P) for b in range(P) for c in range(P)]
    random.Random(42).shuffle(xs)
    for a, b, c in xs[:100]:
        t = model.embed(torch.tensor([[a, b]])).detach().requires_grad_(True)
        o = forward_from_embeddings(model, t)[0]
        o[c].backward()
        tg = t.grad[0].numpy()
        tt += np.sum(tg[0] * tg[1]) / np.sqrt(np.sum(tg[0] ** 2)) / np.sqrt(np.sum(tg[1] ** 2))
    return tt / 100


def main():
    failures = Failures()
    for layers, alpha, act, diff_vocab, eqn_sign in [(2, 0.4, "GeLU", True, True), (1, 0.7, "ReLU", False, False)]:
        label = f"{layers} block(s), alpha {alpha}, {act}, diff_vocab {diff_vocab}, eqn_sign {eqn_sign}"
        with tempdir() as d:
            train_run(d, "--model", "clock-pizza", "--mod-basis", P, "--d-model", D_MODEL, "--num-heads", HEADS,
                      "--num-layers", layers, "--attention-rate", alpha, "--mlp", act.lower(),
                      *(["--diff-vocab"] if diff_vocab else []), *(["--eqn-sign"] if eqn_sign else []),
                      "--full-batch", "--learning-rate", 3e-3, "--epochs", 40, "--seed", 2)
            path = os.path.join(d, "checkpoint_epoch_40.safetensors")
            measures = json.loads(run_bilmod("analyze", path, "--json").stdout)["measures"]
            model = model_from(path, layers, alpha, act, diff_vocab, eqn_sign)
            exact, paper = exact_mean(model, diff_vocab, eqn_sign), notebook_estimate(model)
            ours = measures["gradient_symmetricity"]
            failures.check(abs(ours - exact) <= 1e-4,
                           f"{label}: gradient_symmetricity {ours:.6f} (autograd over all P^3: {exact:.6f})")
            ours = measures["gradient_symmetricity_paper"]
            failures.check(abs(ours - paper) <= 1e-4,
                           f"{label}: gradient_symmetricity_paper {ours:.6f} (the notebook's cell: {paper:.6f})")
            if diff_vocab:  # the notebook's input is not the model's own: the two must differ
                failures.check(abs(paper - exact) > 1e-3, f"{label}: the notebook's input gives another value "
                                                           f"({paper:.4f} against {exact:.4f})")
    failures.finish()


if __name__ == "__main__":
    main()
