"""mlp --activation quad as a quadratic form in [x; 1] (docs/MODELS.md "Interaction matrices"), against PyTorch and numpy.

Trains a small quad MLP with bilmod, then from the checkpoint's tensors: the module's logits in PyTorch (float64) on
every pair, less output.bias, must equal [x;1]^T Q(c) [x;1] with Q(c) = V^T diag(U[c]) V, V = [hidden.weight
hidden.bias]; bilmod analyze's per-class eigenvalues (every class) must be numpy's eigh of that Q(c), its unit
eigenvalues |v_k|^2 (rank 1), and its eigenvectors' dominant-frequency shares those numpy computes on the a and b
blocks. A mismatch fails the process.
"""
import os
import tempfile

import numpy as np
import torch

from checklist import check, close, finish
from test_analysis_spectra import analyze, frequency_energies, load_safetensors, run, symmetric_eig


def main():
    tmp = tempfile.mkdtemp(prefix="bilmod-quad-")
    P, H = 23, 32
    run_dir = os.path.join(tmp, "quad")
    run("train", "--model", "mlp", "--activation", "quad", "--mod-basis", str(P), "--hidden-dim", str(H),
        "--epochs", "40", "--checkpoint-every", "40", "--checkpoint-dir", run_dir, "--no-progress", "--threads", "1",
        "--no-track")
    path = os.path.join(run_dir, "checkpoint_epoch_40.safetensors")
    t, _ = load_safetensors(path)
    W = t["hidden.weight"].astype(np.float64)   # (H, 2P)
    b = t["hidden.bias"].astype(np.float64)     # (H,)
    U = t["output.weight"].astype(np.float64)   # (P, H)
    c = t["output.bias"].astype(np.float64)     # (P,)

    # The module, as Gromov 2023's quad MLP computes it, on every pair.
    hidden = torch.nn.Linear(2 * P, H).double()
    output = torch.nn.Linear(H, P).double()
    with torch.no_grad():
        hidden.weight.copy_(torch.from_numpy(W))
        hidden.bias.copy_(torch.from_numpy(b))
        output.weight.copy_(torch.from_numpy(U))
        output.bias.copy_(torch.from_numpy(c))
        a_idx, b_idx = np.divmod(np.arange(P * P), P)
        x = torch.zeros(P * P, 2 * P, dtype=torch.float64)
        x[np.arange(P * P), a_idx] = 1
        x[np.arange(P * P), P + b_idx] = 1
        logits = output(hidden(x) ** 2).numpy()

    V = np.concatenate([W, b[:, None]], axis=1)  # (H, 2P+1)
    xa = np.concatenate([x.numpy(), np.ones((P * P, 1))], axis=1)  # [x; 1]
    Q = [V.T @ np.diag(U[k]) @ V for k in range(P)]
    forms = np.stack([np.einsum("ni,ij,nj->n", xa, Q[k], xa) for k in range(P)], axis=1)
    close("quad: [x;1]^T Q(c) [x;1] = logit_c - output.bias[c] on every pair", forms, logits - c, rtol=1e-9, atol=1e-12)

    report = analyze(path, "--output-classes", "all")
    check("quad: has interaction matrices", report["has_interaction_matrices"] is True)
    check("quad: every class reported", len(report["classes"]) == P, str(len(report["classes"])))
    for entry in report["classes"]:
        k = entry["class"]
        w, v = symmetric_eig(Q[k])
        close(f"quad: eigenvalues of Q({k})", entry["eigenvalues"], w[:6], rtol=1e-9, atol=1e-12)
        shares = []
        for i in range(len(entry["eigenvalues"])):
            e = frequency_energies(v[:P, i], P) + frequency_energies(v[P:2 * P, i], P)
            shares.append(e.max() / e.sum())
        close(f"quad: dominant-frequency shares of Q({k})'s eigenvectors (a and b blocks, bias left out)",
              [f["share"] for f in entry["eigenvector_frequencies"]], shares, rtol=1e-6, atol=1e-9)
    units = report["units"]
    check("quad: every unit reported, one eigenvalue each (rank 1)",
          len(units) == H and all(len(u["eigenvalues"]) == 1 for u in units))
    close("quad: unit eigenvalues |[w_k; b_k]|^2", [u["eigenvalues"][0] for u in units], (V ** 2).sum(axis=1),
          rtol=1e-9, atol=1e-12)
    dense = [np.linalg.eigvalsh(np.outer(V[k], V[k]))[-1] for k in range(H)]
    close("quad: unit eigenvalue = numpy's eigvalsh of v v^T", [u["eigenvalues"][0] for u in units], dense, rtol=1e-9,
          atol=1e-12)
    finish()


if __name__ == "__main__":
    main()
