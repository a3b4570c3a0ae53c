"""bilmod.Model (python/bilmod_module.cc): the engine's forward pass and interaction matrices from Python.

For each model `bilmod train` trains a few epochs; bilmod.Model(path) then gives, for every pair (a, b), the logits
PyTorch's module computes here from bilmod.load's params loaded with load_state_dict(strict=True) (the seed's
nn.Bilinear -> ReLU -> Linear, factored, mlp quad, the upstream's bias-free bilinear, and Nanda et al.'s transformer
from tests/parity); and get_interaction_matrices(): bilinear's is bilinear.weight itself, (H, P, P); factored's
(l_k r_k^T + r_k l_k^T) / 2 over [e_a; e_b]; mlp quad's v_k v_k^T over [e_a; e_b; 1]; and their eigenvalues are those
`bilmod analyze --json` reports. Clock-and-Pizza's logits are bitwise `bilmod evaluate --output`'s. Models without
interaction matrices, and a or b outside 0..P-1, raise ValueError; float inputs TypeError.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import (BILMOD, Failures, make_model, read_safetensors, relative_difference,  # noqa: E402
                              tempdir, train_run)
from test_parity_transformer import Transformer  # noqa: E402

import bilmod  # noqa: E402  (build/python, on PYTHONPATH from ctest; README "From Python")

P, H = 13, 8
CASES = {
    "bilinear": (["--model", "bilinear"], dict(kind="bilinear", p=P, h=H)),
    "factored": (["--model", "factored"], dict(kind="factored", p=P, h=H)),
    "mlp_quad": (["--model", "mlp", "--activation", "quad"], dict(kind="mlp", p=P, h=H, activation="quad")),
    "mlp_relu": (["--model", "mlp"], dict(kind="mlp", p=P, h=H)),
    "upstream": (["--model", "bilinear", "--no-bias", "--activation", "none"],
                 dict(kind="bilinear", p=P, h=H, activation="none", bias=False)),
    "transformer": (["--model", "transformer", "--d-model", 16, "--num-heads", 2, "--d-mlp", 32], None),
}
# float32 forward passes summed in different orders.
LOGIT_RTOL = 1e-5


def torch_logits(reference, state, a, b):
    """The PyTorch module's logits, its state dict strictly from bilmod.load (params and buffers)."""
    state = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
    if reference is None:
        module = Transformer(P, 16, 2, 32, "relu")
        module.load_state_dict(state, strict=True)
        tokens = torch.stack([torch.from_numpy(a), torch.from_numpy(b), torch.full((len(a),), P)], dim=1)
        with torch.no_grad():
            return module(tokens)[:, -1].numpy()
    module = make_model(**reference)
    module.load_state_dict(state, strict=True)
    with torch.no_grad():
        return module(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def expected_interaction_matrices(name, params):
    w = {k: v.astype(np.float64) for k, v in params.items()}
    if name in ("bilinear", "upstream"):
        return w["bilinear.weight"]
    if name == "factored":
        left, right = w["left.weight"], w["right.weight"]
        return 0.5 * (left[:, :, None] * right[:, None, :] + right[:, :, None] * left[:, None, :])
    if name == "mlp_quad":
        v = np.concatenate([w["hidden.weight"], w["hidden.bias"][:, None]], axis=1)
        return v[:, :, None] * v[:, None, :]
    return None


def check_against_analyze(failures, name, path, matrices):
    """The eigenvalues `bilmod analyze --json` reports per unit are those of the matrices' symmetric parts."""
    proc = subprocess.run([BILMOD, "analyze", path, "--json"], capture_output=True, text=True)
    if not failures.check(proc.returncode == 0, f"{name}: bilmod analyze --json runs ({proc.stderr.strip()})"):
        return
    units = json.loads(proc.stdout).get("units", [])
    worst = 0.0
    for entry in units:
        m = matrices[entry["unit"]]
        w = np.linalg.eigvalsh((m + m.T) / 2)
        w = np.array(sorted(w, key=lambda x: (-abs(x), -x)))[: len(entry["eigenvalues"])]
        worst = max(worst, relative_difference(entry["eigenvalues"], w))
    failures.check(len(units) == H and worst < 1e-9,
                   f"{name}: analyze's {len(units)} units' eigenvalues against the matrices' (largest {worst:.3g})")


def check_clock_pizza(failures):
    """Zhong et al.'s model: the logits `bilmod evaluate --output` writes, bitwise (one engine, two faces)."""
    with tempdir() as d:
        train_run(d, "--model", "clock-pizza", "--mod-basis", P, "--d-model", 16, "--epochs", 3, "--checkpoint-every",
                  0, "--threads", 1)
        out = os.path.join(d, "logits.safetensors")
        subprocess.run([BILMOD, "evaluate", d, "--output", out], capture_output=True, check=True)
        tensors, _ = read_safetensors(out)
        pairs = tensors["pair_index"]
        logits = bilmod.Model(d)(pairs // P, pairs % P)
        failures.check(logits.tobytes() == tensors["logits"].tobytes(),
                       f"clock-pizza: logits {logits.shape} bitwise those of bilmod evaluate --output")


def main():
    failures = Failures()
    check_clock_pizza(failures)
    a, b = (x.ravel() for x in np.meshgrid(np.arange(P), np.arange(P), indexing="ij"))
    for name, (args, reference) in CASES.items():
        with tempdir() as d:
            extra = ["--hidden-dim", H] if name != "transformer" else []
            train_run(d, *args, *extra, "--mod-basis", P, "--epochs", 3, "--checkpoint-every", 0, "--batch-size", 16,
                      "--threads", 1)
            path = os.path.join(d, "checkpoint_epoch_3.safetensors")
            ckpt = bilmod.load(path)
            model = bilmod.Model(ckpt)
            logits = model(a, b)
            expected = torch_logits(reference, ckpt.state_dict(), a, b)
            num_logits = P + 1 if name == "transformer" else P
            failures.check(logits.shape == (P * P, num_logits) and logits.dtype == np.float32,
                           f"{name}: logits {logits.shape} {logits.dtype}")
            diff = relative_difference(logits, expected)
            failures.check(diff <= LOGIT_RTOL, f"{name}: logits of all {P * P} pairs against PyTorch's forward, "
                                               f"largest difference {diff:.3g} of the largest (limit {LOGIT_RTOL})")
            # a model made from the path, and int32 inputs, give the same bits
            again = bilmod.Model(path)(a.astype(np.int32), b.astype(np.int32))
            failures.check(again.tobytes() == logits.tobytes(), f"{name}: Model(path) and int32 inputs, same logits")
            want = expected_interaction_matrices(name, ckpt.params)
            if want is None:
                try:
                    model.get_interaction_matrices()
                    failures.check(False, f"{name}: get_interaction_matrices raises ValueError")
                except ValueError as e:
                    failures.check(True, f"{name}: get_interaction_matrices raises ValueError: {e}")
            else:
                got = model.get_interaction_matrices()
                diff = relative_difference(got, want) if got.shape == want.shape else float("inf")
                failures.check(got.shape == want.shape and diff <= 1e-12,
                               f"{name}: interaction matrices {got.shape} against numpy's {want.shape} from the "
                               f"params, largest difference {diff:.3g}")
                check_against_analyze(failures, name, path, got)
            for bad in ((np.array([P]), np.array([0])), (np.array([0]), np.array([-1])),
                        (np.array([0, 1]), np.array([0]))):
                try:
                    model(*bad)
                    failures.check(False, f"{name}: model{bad} raises ValueError")
                except ValueError:
                    pass
            try:
                model(a.astype(np.float64), b)
                failures.check(False, f"{name}: float a raises TypeError")
            except TypeError:
                pass
            # (the transformer's forward rounds a batch of 2 differently from one of P * P)
            diff = relative_difference(model([1, 2], [3, 4]), logits[[1 * P + 3, 2 * P + 4]])
            failures.check(diff <= LOGIT_RTOL, f"{name}: lists of ints are arrays of pairs too ({diff:.3g})")
    failures.finish()


if __name__ == "__main__":
    main()
