"""Resume, determinism and gradient accumulation, end to end (issue 2):
- 2N epochs straight against N, then resumed for N more: identical parameters, optimiser state, split and metrics;
- the same seeds give bitwise-identical checkpoint tensors whatever --threads is;
- batch B with k accumulation steps equals batch B*k without, within float rounding."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import Failures, read_safetensors, relative_difference, run_bilmod, tempdir  # noqa: E402


def train(d, *extra):
    run_bilmod("train", "--checkpoint-dir", d, "--no-progress", "--no-track", *extra)


def differing_tensors(x, y):
    """Names of tensors that differ in any bit (or exist in only one)."""
    return sorted(k for k in set(x) | set(y) if k not in x or k not in y or x[k].tobytes() != y[k].tobytes())


def main():
    failures = Failures()
    for model in ["bilinear", "factored", "mlp"]:
        common = ["--model", model, "--mod-basis", 23, "--hidden-dim", 16, "--batch-size", 32, "--train-frac", 0.5,
                  "--seed", 3, "--checkpoint-every", 2]
        with tempdir() as straight, tempdir() as resumed:
            train(straight, *common, "--epochs", 6, "--threads", 1)
            train(resumed, *common, "--epochs", 3, "--threads", 1)
            train(resumed, "--resume-from", os.path.join(resumed, "checkpoint_epoch_3.safetensors"), "--epochs", 6)
            a, meta_a = read_safetensors(os.path.join(straight, "checkpoint_epoch_6.safetensors"))
            b, meta_b = read_safetensors(os.path.join(resumed, "checkpoint_epoch_6.safetensors"))
            diff = differing_tensors(a, b)
            failures.check(not diff, f"{model}: 6 epochs straight == 3 + resumed 3, bitwise (differing: {diff})")
            failures.check(json.loads(meta_a["metrics"]) == json.loads(meta_b["metrics"]) and meta_a["step"] == meta_b["step"],
                           f"{model}: same metrics and step after resume ({meta_a['step']} vs {meta_b['step']})")
            _, meta_first = read_safetensors(os.path.join(resumed, "checkpoint_epoch_3.safetensors"))
            failures.check(meta_b["run_id"] == meta_first["run_id"], f"{model}: the resumed run keeps its run id")
            # A folder resumes from its latest checkpoint.
            train(resumed, "--resume-from", resumed, "--epochs", 7)
            failures.check(os.path.exists(os.path.join(resumed, "checkpoint_epoch_7.safetensors")),
                           f"{model}: --resume-from FOLDER continues from its latest checkpoint")

        # Large enough that every kernel takes its multi-threaded path (full batch of 1860 pairs).
        wide = ["--model", model, "--mod-basis", 61, "--hidden-dim", 48, "--train-frac", 0.5, "--seed", 2, "--epochs", 3]
        with tempdir() as one, tempdir() as two:
            train(one, *wide, "--threads", 1, "--full-batch")
            train(two, *wide, "--threads", 2, "--full-batch")
            x, _ = read_safetensors(os.path.join(one, "checkpoint_epoch_3.safetensors"))
            y, _ = read_safetensors(os.path.join(two, "checkpoint_epoch_3.safetensors"))
            diff = differing_tensors(x, y)
            failures.check(not diff, f"{model}: --threads 1 and 2 give bitwise-identical tensors (differing: {diff})")

        # 256 train pairs: B=32 x k=4 and B=128 x k=1 both make 2 steps per epoch.
        with tempdir() as accum, tempdir() as big:
            base = ["--model", model, "--mod-basis", 32, "--hidden-dim", 16, "--train-frac", 0.25, "--epochs", 2,
                    "--threads", 1, "--seed", 1]
            train(accum, *base, "--batch-size", 32, "--grad-accum-steps", 4)
            train(big, *base, "--batch-size", 128)
            x, _ = read_safetensors(os.path.join(accum, "checkpoint_epoch_2.safetensors"))
            y, _ = read_safetensors(os.path.join(big, "checkpoint_epoch_2.safetensors"))
            worst = max(relative_difference(x[k], y[k]) for k in y if not k.startswith("data."))
            failures.check(worst <= 1e-5, f"{model}: batch 32 x 4 accumulation == batch 128, largest relative "
                                          f"difference {worst:.3g} (limit 1e-5)")
    failures.finish()


if __name__ == "__main__":
    main()
