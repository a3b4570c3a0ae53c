"""The subnormal detours change speed, never bits (README "Subnormal floats", src/util/subnormal_watch.h): a whole
training run with BILMOD_SUBNORMAL_DETOURS=always (the detours wherever the MXCSR flags call for them), =never (the
plain float path only) and unset (measured on this processor) writes the same checkpoints, every tensor, step and
metric bit for bit.

The runs are ones where the switch matters: weight decay fades units a model no longer uses into the subnormal floats
well before the end, so that
- AdamW's dense step meets subnormal m or v (optimizer.*.exp_avg / exp_avg_sq; src/optim/adamw_detour.h
  meets_subnormal), which "always" takes in double (adamw_fast.cc, adamw_watch), and
- some hidden unit's output weights are all below 2^-100 (kFadedWeight, src/model/output_layer.cc), a faded unit
  whose dL/dh "always" forms on the integer grid (dhidden_on_grid, grid_watch; AVX-512 builds).
The test checks both of these on the checkpoints before the last, so a change that left the switch idle fails here.
(Counted under gdb on an AVX-512 machine: dhidden_on_grid ran 18152 times in the factored run with "always", 26968 in
the bilinear run, never with "never"; AdamW's dense step took some vector in double in 2702 calls of the factored run
and 1110 of the bilinear run with "always", in none with "never". Unset, that machine measured the plain path faster
and took no detour.)"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from reliability_common import Failures, checkpoints, differing_tensors, read_safetensors, run, tempdir  # noqa: E402

POLICIES = ("always", "never", None)  # None: unset, the measured choice
FADED_WEIGHT = 2.0 ** -100  # output_layer.cc kFadedWeight
# Factored: a run on its way to grokking (val accuracy ~0.74 at epoch 250), its unused units fading from epoch ~150.
# The seed's bilinear model: lazy rows for bilinear.weight, dense AdamW for the rest, units faded from epoch ~100.
RUNS = {
    "factored": ["--model", "factored", "--mod-basis", 23, "--hidden-dim", 32, "--batch-size", 32, "--train-frac", 0.5,
                 "--learning-rate", 0.05, "--weight-decay", 1, "--epochs", 250, "--checkpoint-every", 50],
    "bilinear": ["--model", "bilinear", "--mod-basis", 23, "--hidden-dim", 32, "--batch-size", 32, "--train-frac", 0.5,
                 "--learning-rate", 0.05, "--weight-decay", 2, "--epochs", 200, "--checkpoint-every", 50],
}
LAZY = {"bilinear.weight"}  # the seed model's lazily updated rows: not the dense step


def subnormal_count(a):
    a = np.abs(a)
    return int(np.sum((a > 0) & (a < np.finfo(np.float32).tiny)))


def main():
    failures = Failures()
    for name, flags in RUNS.items():
        folders = {}
        with tempdir() as always, tempdir() as never, tempdir() as measured:
            for policy, d in zip(POLICIES, (always, never, measured)):
                env = dict(os.environ)
                env.pop("BILMOD_SUBNORMAL_DETOURS", None)
                if policy:
                    env["BILMOD_SUBNORMAL_DETOURS"] = policy
                run("train", *flags, "--threads", 1, "--checkpoint-dir", d, "--no-track", "--no-progress",
                    "--log-level", "ERROR", env=env, check=0)
                folders[policy or "unset (measured)"] = checkpoints(d)

            # Where the switch matters: subnormal AdamW state and faded units at a checkpoint with steps still to run.
            epochs = sorted(folders["never"])
            dense_state, faded = {}, {}
            for epoch in epochs[:-1]:
                t, _ = read_safetensors(folders["never"][epoch])
                dense_state[epoch] = sum(subnormal_count(v) for k, v in t.items() if k.startswith("optimizer.")
                                         and k.endswith((".exp_avg", ".exp_avg_sq"))
                                         and k[len("optimizer."):].rsplit(".", 1)[0] not in LAZY)
                faded[epoch] = int(np.sum(np.abs(t["output.weight"]).max(axis=0) < FADED_WEIGHT))
            failures.check(any(dense_state.values()),
                           f"{name}: AdamW's dense state holds subnormal m or v before the last epoch "
                           f"(subnormal floats by epoch: {dense_state})")
            failures.check(any(faded.values()),
                           f"{name}: some units have faded (every output weight below 2^-100) before the last epoch "
                           f"(faded units by epoch: {faded})")

            for policy in ("always", "unset (measured)"):
                got, want = folders[policy], folders["never"]
                failures.check(sorted(got) == sorted(want) and len(want) >= 3,
                               f"{name}: {policy} and never wrote checkpoints of the same epochs "
                               f"({sorted(got)} vs {sorted(want)})")
                differing = []
                for epoch in sorted(set(got) & set(want)):
                    x, meta_x = read_safetensors(got[epoch])
                    y, meta_y = read_safetensors(want[epoch])
                    diff = differing_tensors(x, y)
                    if diff or meta_x["step"] != meta_y["step"] or meta_x["metrics"] != meta_y["metrics"]:
                        differing.append((epoch, diff or "step/metrics"))
                failures.check(not differing, f"{name}: BILMOD_SUBNORMAL_DETOURS={policy} == never, every checkpoint "
                                              f"bit for bit (differing: {differing})")
    failures.finish()


if __name__ == "__main__":
    main()
