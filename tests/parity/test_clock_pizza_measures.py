"""Distance irrelevance and circularity (Zhong et al. 2023, docs/MODELS.md "Measures") against the paper's own code.

Trains small models with bilmod (a transformer at odd P, a factored model at odd and at even P), writes every pair's
logits with `bilmod evaluate --output`, and recomputes in numpy exactly as the paper does: distance irrelevance by
eval-main.ipynb's loop (the correct logit into L[(a+b)%P][(a-b)%P], np.mean(np.std(L, axis=0)) / np.std(L)) and by
train-main.py's (the highest other logit, which its logged runs hold); circularity by the notebook's PCA of W_E^T over
the whole vocabulary (numpy's SVD in place of sklearn's, which computes the same components) and its score with P for
its 59. Each must equal `bilmod analyze --json`'s measure.
A mismatch fails the process.
"""
import json
import math
import os
import tempfile

import numpy as np

from checklist import check, close, finish
from test_analysis_spectra import analyze, load_safetensors, run


def paper_di(logits, labels, P, incorrect):
    oo = [[0] * P for _ in range(P)]
    for pair in range(P * P):  # the dataset's order: a, then b
        A, B = divmod(pair, P)
        row = logits[pair].astype(np.float64)
        if incorrect:
            other = row.copy()
            other[labels[pair]] = -np.inf
            value = other.max()
        else:
            value = row[labels[pair]]
        oo[(A + B) % P][(A - B) % P] = value
    oo = np.array(oo)
    return np.mean(np.std(oo, axis=0)) / np.std(oo.flatten())


def paper_circularity(W_E, P):
    we = W_E.T.astype(np.float64)  # (vocabulary, d_model)
    centred = we - we.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    we2 = u * s  # sklearn's PCA.fit_transform
    rst = 0
    for ix in range(4):
        vs = we2[:, ix] * 1
        vs = vs / np.sqrt(np.sum(vs * vs)) / math.sqrt(P)
        tt = []
        for i in range(1, P):
            vv = [vs[t * i % P] for t in range(P)]
            sa = sum(vv[t] * complex(math.cos(2 * math.pi * t / P), math.sin(2 * math.pi * t / P)) for t in range(P))
            tt.append((-abs(sa) ** 2 * 2, i))
        tt.sort()
        rst += max(min(-tt[0][0], 1.0), 0.0)
    return rst / 4


def dat_blocks(path):
    """The numeric rows of each data block of a figure's .dat file (blocks separated by blank lines)."""
    blocks, rows = [], []
    for line in open(path):
        line = line.strip()
        if line.startswith("#"):
            continue
        if not line:
            if rows:
                blocks.append(np.array(rows))
            rows = []
            continue
        rows.append([float(x) for x in line.split()])
    if rows:
        blocks.append(np.array(rows))
    return blocks


def paper_table(logits, labels, P):
    table = np.zeros((P, P))
    for pair in range(P * P):
        A, B = divmod(pair, P)
        table[(A + B) % P][(A - B) % P] = logits[pair][labels[pair]]
    return table


def check_figures(name, path, logits, labels, P, tmp):
    """visualize-checkpoint's correct-logit table against the paper's L, and (with a token embedding) the token
    PCs against numpy's, each component up to its sign."""
    out = os.path.join(tmp, name + "_figures")
    run("visualize-checkpoint", path, "--output-dir", out)
    table = dat_blocks(os.path.join(out, "correct_logit_table.dat"))[0]
    want = paper_table(logits.astype(np.float64), labels, P)
    check(f"{name}: correct-logit table figure is L[(a+b)%P][(a-b)%P]", table.shape == want.shape and
          np.allclose(table, want, rtol=1e-5, atol=1e-5 * np.abs(want).max()), f"{table.shape} vs {want.shape}")
    pcs = os.path.join(out, "token_embedding_pcs.dat")
    if name != "transformer":
        check(f"{name}: no token PC figure without a token embedding", not os.path.exists(pcs))
        return
    t, _ = load_safetensors(path)
    we = t["embed.W_E"].T.astype(np.float64)
    centred = we - we.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    scores = (u * s)[:P, :4]
    blocks = dat_blocks(pcs)
    drawn = np.column_stack([blocks[0][:, 0], blocks[0][:, 1], blocks[2][:, 0], blocks[2][:, 1]])
    signs = np.sign(np.sum(drawn * scores, axis=0))
    check(f"{name}: token PC figure holds PCs 1-4 of W_E^T (numpy's SVD)",
          np.allclose(drawn, scores * signs, atol=1e-6 * np.abs(scores).max()), str(np.abs(drawn - scores * signs).max()))


def main():
    tmp = tempfile.mkdtemp(prefix="bilmod-clock-pizza-")
    cases = [
        ("transformer", 13, ["--model", "transformer", "--d-model", "32", "--num-heads", "2", "--full-batch",
                             "--learning-rate", "0.003", "--weight-decay", "0.7", "--epochs", "60"]),
        ("factored", 17, ["--model", "factored", "--hidden-dim", "24", "--train-frac", "0.6", "--epochs", "50"]),
        ("factored_even", 12, ["--model", "factored", "--hidden-dim", "16", "--train-frac", "0.6", "--epochs", "30"]),
    ]
    for name, P, flags in cases:
        run_dir = os.path.join(tmp, name)
        run("train", "--mod-basis", str(P), *flags, "--checkpoint-every", "1000", "--checkpoint-dir", run_dir,
            "--no-progress", "--no-track", "--seed", "5")
        last = sorted(f for f in os.listdir(run_dir) if f.endswith(".safetensors"))[-1]
        path = os.path.join(run_dir, last)
        logits_path = os.path.join(tmp, name + "_logits.safetensors")
        run("evaluate", path, "--output", logits_path)
        lt, _ = load_safetensors(logits_path)
        logits = lt["logits"]
        check(f"{name}: logits of every pair", logits.shape[0] == P * P, str(logits.shape))
        labels = [(a + b) % P for a in range(P) for b in range(P)]
        check_figures(name, path, logits, labels, P, tmp)
        report = analyze(path)
        measures = report["measures"]
        want = paper_di(logits, labels, P, incorrect=False)
        close(f"{name}: distance_irrelevance (eval-main.ipynb)", measures.get("distance_irrelevance"), want, rtol=1e-9)
        want_inc = paper_di(logits, labels, P, incorrect=True)
        close(f"{name}: distance_irrelevance_incorrect (train-main.py)", measures.get("distance_irrelevance_incorrect"),
              want_inc, rtol=1e-9)
        _, meta = load_safetensors(path)
        check(f"{name}: distance irrelevance is analyze's, not every evaluation's",
              "distance_irrelevance" not in json.loads(meta["metrics"]))
        if name == "transformer":
            t, _ = load_safetensors(path)
            close(f"{name}: circularity (eval-main.ipynb)", measures.get("circularity"),
                  paper_circularity(t["embed.W_E"], P), rtol=1e-7)
        else:
            check(f"{name}: no circularity without a token embedding", "circularity" not in measures, str(measures))
    finish()


if __name__ == "__main__":
    main()
