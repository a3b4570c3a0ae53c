"""Gradient symmetricity (Zhong et al. 2023, docs/MODELS.md "Measures") against PyTorch autograd, computed here.

Trains small transformers with bilmod (P = 13 and 17, each --mlp, non-default widths and heads) and loads each last
checkpoint into test_parity_transformer.py's transcription of Nanda et al.'s module. Then:
- gradient_symmetricity: d logit_c / d t_p (t_p = W_E[:, token] at position p, before W_pos; the logits of the last
  position) for every pair by autograd in float64, the cosine of positions 0 and 1 as the notebook computes it, the
  mean over all P^3 triples;
- gradient_symmetricity_paper: eval-main.ipynb's cell itself: xs = [(a, b, c) for a, for b, for c],
  random.Random(42).shuffle(xs) by Python's own random, the first 100, each by one forward of [a, b, '='] and
  o[c].backward() on the float32 module, numpy's float32 cosine, tt / 100 (and the same triples' float64 cosines).
Each must equal `bilmod analyze --json`'s measure; the paper's value is also checked to differ from a mean over other
triples (so the triples bilmod draws are Python's). A factored model has neither value, and no run logs them.
A mismatch fails the process.
"""
import json
import os
import random
import tempfile
import warnings

import numpy as np
import torch

from checklist import check, close, finish
from test_analysis_spectra import analyze, load_safetensors, run
from test_parity_transformer import Transformer, model_state

torch.set_num_threads(1)


def token_gradients(model, P):
    """(P^2, P, 2, d) d logit_c / d t_p for every pair (a, b) (index a P + b), by autograd on `model` as it is."""
    a = torch.arange(P).repeat_interleave(P)
    b = torch.arange(P).repeat(P)
    tokens = torch.stack([a, b, torch.full_like(a, P)], dim=1)
    t = model.embed(tokens).detach().requires_grad_(True)  # (P^2, 3, d): the token embeddings before W_pos
    x = model.pos_embed(t)
    for block in model.blocks:
        x = block(x)
    logits = model.unembed(x)[:, -1, :P]
    out = []
    for c in range(P):  # pairs are independent: the gradient of the sum over pairs is each pair's
        (g,) = torch.autograd.grad(logits[:, c].sum(), t, retain_graph=True)
        out.append(g[:, :2].detach().numpy())
    return np.stack(out, axis=1)


def cosines(g):
    """The notebook's dp = sum(tg0 tg1) / sqrt(sum tg0^2) / sqrt(sum tg1^2), over the last axis."""
    g0, g1 = g[..., 0, :], g[..., 1, :]
    return np.sum(g0 * g1, axis=-1) / np.sqrt(np.sum(g0 ** 2, axis=-1)) / np.sqrt(np.sum(g1 ** 2, axis=-1))


def notebook_estimate(model, P, seed=42):
    """eval-main.ipynb's gradient symmetricity cell, with the '=' token bilmod's transformer reads."""
    tt = 0
    xs = [(a, b, c) for a in range(P) for b in range(P) for c in range(P)]
    random.Random(seed).shuffle(xs)
    xs = xs[:100]
    for a, b, c in xs:
        x = torch.tensor([[a, b, P]])
        t = model.embed(x)
        t.retain_grad()
        h = model.pos_embed(t)
        for block in model.blocks:
            h = block(h)
        o = model.unembed(h)[0, -1, :]
        model.zero_grad()
        o[c].backward()
        tg = t.grad[0].detach().cpu().numpy()
        dp = np.sum(tg[0] * tg[1]) / np.sqrt(np.sum(tg[0] ** 2)) / np.sqrt(np.sum(tg[1] ** 2))
        tt += dp
    return tt / len(xs)


def main():
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    tmp = tempfile.mkdtemp(prefix="bilmod-gradsym-")
    cases = [  # name, P, d_model, heads, d_mlp, mlp
        ("gelu", 13, 24, 3, 40, "gelu"),
        ("bilinear", 13, 16, 2, 24, "bilinear"),
        ("relu", 17, 32, 4, 48, "relu"),
    ]
    for name, P, d, heads, m, mlp in cases:
        run_dir = os.path.join(tmp, name)
        run("train", "--model", "transformer", "--mlp", mlp, "--mod-basis", str(P), "--d-model", str(d),
            "--num-heads", str(heads), "--d-mlp", str(m), "--full-batch", "--learning-rate", "0.003",
            "--weight-decay", "0.5", "--train-frac", "0.5", "--epochs", "40", "--checkpoint-every", "1000",
            "--checkpoint-dir", run_dir, "--no-progress", "--no-track", "--seed", "7")
        last = sorted(f for f in os.listdir(run_dir) if f.endswith(".safetensors"))[-1]
        path = os.path.join(run_dir, last)
        tensors, meta = load_safetensors(path)
        measures = analyze(path)["measures"]
        check(f"{name}: no run logs the gradient symmetricity (analyze's)",
              not any(k.startswith("gradient_symmetricity") for k in json.loads(meta["metrics"])))

        model = Transformer(P, d, heads, m, mlp)
        model.load_state_dict(model_state(tensors), strict=True)
        cos = cosines(token_gradients(model.double(), P))  # (P^2, P): pair a P + b, logit c
        exact = cos.mean()
        close(f"{name}: gradient_symmetricity (all {P}^3 triples, float64 autograd)",
              measures.get("gradient_symmetricity"), exact, rtol=1e-9)
        xs = [(a, b, c) for a in range(P) for b in range(P) for c in range(P)]
        random.Random(42).shuffle(xs)
        paper64 = np.mean([cos[a * P + b, c] for a, b, c in xs[:100]])
        close(f"{name}: gradient_symmetricity_paper (Python's random.Random(42) triples, float64 autograd)",
              measures.get("gradient_symmetricity_paper"), paper64, rtol=1e-9)
        model = model.float()
        paper = notebook_estimate(model, P)
        close(f"{name}: gradient_symmetricity_paper (eval-main.ipynb's 100 triples, float32)",
              measures.get("gradient_symmetricity_paper"), paper, rtol=1e-5)
        other = notebook_estimate(model, P, seed=43)
        check(f"{name}: the paper's estimate tells its triples from others ({paper:.6f} vs {other:.6f})",
              abs(paper - other) > 1e-3)
        ours, ours_paper = measures.get("gradient_symmetricity"), measures.get("gradient_symmetricity_paper")
        if ours is not None and ours_paper is not None:
            print(f"  {name}: exact {exact:.12f} (bilmod {ours:.12f}, |diff| {abs(ours - exact):.2g}); paper's 100: "
                  f"float64 {paper64:.12f} (|diff| {abs(ours_paper - paper64):.2g}), the notebook's float32 loop "
                  f"{paper:.9f} (|diff| {abs(ours_paper - paper):.2g})")

    run_dir = os.path.join(tmp, "factored")
    run("train", "--model", "factored", "--mod-basis", "11", "--hidden-dim", "8", "--epochs", "2", "--checkpoint-dir",
        run_dir, "--no-progress", "--no-track")
    last = sorted(f for f in os.listdir(run_dir) if f.endswith(".safetensors"))[-1]
    measures = analyze(os.path.join(run_dir, last))["measures"]
    check("factored: no token gradients, no gradient symmetricity",
          not any(k.startswith("gradient_symmetricity") for k in measures), str(sorted(measures)))
    finish()


if __name__ == "__main__":
    main()
