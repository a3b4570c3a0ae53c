"""bilmod analyze --hosvd and visualize-checkpoint's singular_vectors_output_{c} against numpy's SVD (docs/MODELS.md
"Flattened SVD").

For every model with a bilinear tensor (the seed's bilinear, the upstream's direct model, factored, mlp quad, and a
bilinear whose H exceeds P^2, which takes BDCSVD instead of the Gram matrix), trained a few epochs by bilmod: the tensor
T built in numpy from the checkpoint as docs/MODELS.md defines it, reshaped (d_out, n^2) as the upstream's
eigendecompose does, and numpy.linalg.svd of it. The safetensors file's S (rtol 1e-5), U's columns and Vh's rows (up to
sign), its metadata, the JSON report's singular values and energy shares must match; then M_c's singular vectors drawn
by visualize-checkpoint (their .dat data) against numpy's SVD of M_c = sum_i U[c, i] W_i, up to sign. The upstream's
own torch.save file against torch.linalg.svd, as its eigendecompose calls it: S, and U's columns and Vh's rows of the
well-separated singular values, each pair (U column, Vh row) up to one sign. Usage errors exit 2 with one line. A
mismatch fails the process.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

from checklist import BILMOD, check, close, finish
from test_analysis_spectra import load_safetensors, run

TOP_K = 10


def tensor_of(t, model):
    """T (d_out, n, n) as docs/MODELS.md "Flattened SVD" defines it."""
    if model == "bilinear":
        return t["bilinear.weight"].astype(np.float64)
    if model == "factored":
        L, R = t["left.weight"].astype(np.float64), t["right.weight"].astype(np.float64)
        return 0.5 * (np.einsum("ki,kj->kij", L, R) + np.einsum("ki,kj->kij", R, L))
    V = np.concatenate([t["hidden.weight"], t["hidden.bias"][:, None]], axis=1).astype(np.float64)
    return np.einsum("ki,kj->kij", V, V)


def aligned(got, want):
    """got's columns flipped to want's signs (singular vectors are defined up to sign)."""
    signs = np.sign(np.sum(got * want, axis=0))
    signs[signs == 0] = 1
    return got * signs


def pair_aligned(got_u, got_vh, want_u):
    """got's pairs (U column i, Vh row i) flipped together to want's signs: u_i s_i v_i^T is T's term, so a pair's
    two vectors may change sign only together."""
    signs = np.sign(np.sum(got_u * want_u, axis=0))
    signs[signs == 0] = 1
    return got_u * signs, got_vh * signs[:, None]


def separated_components(S, k):
    """Indices below k whose singular value is apart from its neighbours (else any rotation of a pair is an answer)."""
    gaps = np.abs(np.diff(S))
    return [i for i in range(k) if (i == 0 or gaps[i - 1] > 1e-3 * S[0]) and (i + 1 >= len(S) or gaps[i] > 1e-3 * S[0])]


def check_case(tmp, name, model, train_args):
    run_dir = os.path.join(tmp, name)
    run("train", "--model", model, *train_args, "--epochs", "20", "--checkpoint-every", "20", "--checkpoint-dir", run_dir,
        "--no-progress", "--threads", "1", "--no-track")
    path = os.path.join(run_dir, "checkpoint_epoch_20.safetensors")
    out_file = os.path.join(tmp, name + "-hosvd", "svd.safetensors")
    os.makedirs(os.path.dirname(out_file))
    report = json.loads(run("analyze", path, "--hosvd", "--top-k", str(TOP_K), "--output", out_file, "--output-dir",
                            os.path.join(tmp, name + "-fig"), "--json"))
    t, _ = load_safetensors(path)
    T = tensor_of(t, model)
    d_out, n = T.shape[0], T.shape[1]
    flat = T.reshape(d_out, n * n)
    U, S, Vh = np.linalg.svd(flat, full_matrices=False)
    k = min(TOP_K, len(S))
    got, meta = load_safetensors(out_file)
    check(f"{name}: U, S, Vh shapes ({d_out}, {k}), ({k},), ({k}, {n * n})",
          got["U"].shape == (d_out, k) and got["S"].shape == (k,) and got["Vh"].shape == (k, n * n),
          str({key: v.shape for key, v in got.items()}))
    check(f"{name}: metadata names the shape and k",
          (meta.get("d_out"), meta.get("d_in_0"), meta.get("d_in_1"), meta.get("top_k")) == (str(d_out), str(n), str(n), str(k)),
          json.dumps(meta))
    close(f"{name}: S against numpy.linalg.svd", got["S"], S[:k], rtol=1e-5, atol=1e-7)
    close(f"{name}: JSON singular values", report["singular_values"], S[:k], rtol=1e-9, atol=1e-12)
    close(f"{name}: JSON energy shares", report["energy_shares"], S[:k] ** 2 / (S ** 2).sum(), rtol=1e-9, atol=1e-12)
    check(f"{name}: method", report["method"] == ("bdcsvd" if d_out > n * n else "gram"), report["method"])
    # Vectors, where their singular value is apart from its neighbours (else any rotation of the pair is an answer).
    separated = separated_components(S, k)
    check(f"{name}: some components are separated", len(separated) > 0, str(S[:k]))
    close(f"{name}: U columns (up to sign)", aligned(got["U"], U[:, :k])[:, separated], U[:, separated], rtol=0, atol=2e-5)
    close(f"{name}: Vh rows (up to sign)", aligned(got["Vh"].T, Vh[:k].T)[:, separated], Vh[separated].T, rtol=0, atol=2e-5)
    # The sign convention: each U column's largest entry is positive.
    cols = got["U"]
    check(f"{name}: U columns' largest entries are positive",
          all(cols[np.argmax(np.abs(cols[:, i])), i] > 0 for i in range(k)))
    check(f"{name}: the figure", os.path.getsize(os.path.join(tmp, name + "-fig", "hosvd_components.png")) > 0)
    return run_dir, t


def read_dat_blocks(path):
    """The y columns of a figure's .dat data blocks, in order."""
    blocks, current = [], None
    for line in open(path):
        if line.startswith("# block"):
            current = []
            blocks.append(current)
        elif line.strip() and not line.startswith("#") and current is not None:
            current.append(float(line.split()[1]))
    return [np.array(b) for b in blocks]


def main():
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from skipping import skip  # tests/skipping.py
    if shutil.which("gnuplot") is None:
        skip("gnuplot is not installed: analyze --hosvd draws its figure with it")
    tmp = tempfile.mkdtemp(prefix="bilmod-hosvd-")
    P = 11
    bilinear_dir, tb = check_case(tmp, "bilinear", "bilinear", ["--mod-basis", str(P), "--hidden-dim", "24"])
    check_case(tmp, "direct", "bilinear", ["--mod-basis", str(P), "--no-bias", "--no-output-projection"])
    check_case(tmp, "factored", "factored", ["--mod-basis", str(P), "--hidden-dim", "16"])
    check_case(tmp, "quad", "mlp", ["--activation", "quad", "--mod-basis", str(P), "--hidden-dim", "12"])
    check_case(tmp, "wide", "bilinear", ["--mod-basis", "5", "--hidden-dim", "40"])  # H > P^2: BDCSVD

    # The upstream's own file: its direct model nn.Bilinear(P, P, P, bias=False) under torch.compile's prefix, saved
    # by torch.save, against torch.linalg.svd as its eigendecompose calls it.
    torch.manual_seed(0)
    direct = torch.nn.Bilinear(P, P, P, bias=False)
    pt = os.path.join(tmp, "upstream.pt")
    torch.save({"model_state_dict": {"_orig_mod.bilinear.weight": direct.weight.detach().clone()},
                "config": {"mod_basis": P, "use_output_projection": False, "seed": 0}}, pt)
    pt_out = os.path.join(tmp, "upstream-svd.safetensors")
    report = json.loads(run("analyze", pt, "--hosvd", "--output", pt_out, "--output-dir", os.path.join(tmp, "upstream-fig"),
                            "--json"))
    got, _ = load_safetensors(pt_out)
    U_torch, S_torch, Vh_torch = torch.linalg.svd(direct.weight.detach().reshape(P, P * P), full_matrices=False)
    check("upstream .pt: read as torch.save", report["source_format"] == "torch.save", report["source_format"])
    close("upstream .pt: S against torch.linalg.svd (float32, as eigendecompose)", got["S"], S_torch[:TOP_K].numpy(),
          rtol=1e-5, atol=1e-6)
    # Its vectors too, each pair (U column, Vh row) up to one sign, where the singular value is well separated.
    k = min(TOP_K, len(S_torch))
    U_t, Vh_t = U_torch[:, :k].numpy().astype(np.float64), Vh_torch[:k].numpy().astype(np.float64)
    separated = separated_components(S_torch.numpy().astype(np.float64), k)
    check("upstream .pt: U, Vh shapes and some components separated",
          got["U"].shape == U_t.shape and got["Vh"].shape == Vh_t.shape and len(separated) > 0,
          f"{got['U'].shape} {got['Vh'].shape} vs {U_t.shape} {Vh_t.shape}; separated {separated}")
    if got["U"].shape == U_t.shape and got["Vh"].shape == Vh_t.shape:
        u, vh = pair_aligned(got["U"], got["Vh"], U_t)
        close("upstream .pt: U columns against torch.linalg.svd (pairs up to sign)", u[:, separated], U_t[:, separated],
              rtol=0, atol=2e-5)
        close("upstream .pt: Vh rows against torch.linalg.svd (pairs up to sign)", vh[separated], Vh_t[separated],
              rtol=0, atol=2e-5)

    # visualize-checkpoint: M_c's top singular vectors, U[:, i] then V[:, i] panels, against numpy up to sign.
    vis = os.path.join(tmp, "vis")
    run("visualize-checkpoint", bilinear_dir, "--output-dir", vis, "--num-eigenvectors", "3")
    W = tb["bilinear.weight"].astype(np.float64)
    Uo = tb["output.weight"].astype(np.float64)
    for c in (0, 1, P - 1):
        dat = os.path.join(vis, f"singular_vectors_output_{c}.dat")
        check(f"visualize: singular_vectors_output_{c} drawn",
              os.path.exists(dat) and os.path.getsize(os.path.join(vis, f"singular_vectors_output_{c}.png")) > 0)
        if not os.path.exists(dat):
            continue
        blocks = read_dat_blocks(dat)
        M = np.einsum("i,ijk->jk", Uo[c], W)
        u, s, vh = np.linalg.svd(M)
        left, right = np.stack(blocks[:3], axis=1), np.stack(blocks[3:6], axis=1)
        close(f"visualize: M_{c}'s left singular vectors", aligned(left, u[:, :3]), u[:, :3], rtol=0, atol=1e-6)
        close(f"visualize: M_{c}'s right singular vectors", aligned(right, vh[:3].T), vh[:3].T, rtol=0, atol=1e-6)

    # Usage errors: one line, exit 2.
    mlp_dir = os.path.join(tmp, "relu")
    run("train", "--model", "mlp", "--mod-basis", str(P), "--hidden-dim", "8", "--epochs", "1", "--checkpoint-every", "1",
        "--checkpoint-dir", mlp_dir, "--no-progress", "--threads", "1", "--no-track")
    for args, words in ((["analyze", mlp_dir, "--hosvd", "--output-dir", os.path.join(tmp, "x")], "no bilinear tensor"),
                        (["analyze", bilinear_dir, "--hosvd", "--top-k", "0"], "--top-k"),
                        (["analyze", bilinear_dir, "--top-k", "3"], "only with --hosvd"),
                        (["analyze", bilinear_dir, "--hosvd", "--over-training"], "different reports")):
        r = subprocess.run([BILMOD, *args], capture_output=True, text=True)
        check(f"usage error ({' '.join(args[2:])}): exit 2, one line",
              r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr)
    finish()


if __name__ == "__main__":
    main()
