"""Resume, determinism and gradient accumulation, end to end (issue 2):
- 2N epochs straight against N, then resumed for N more: identical parameters, optimiser state, split and metrics;
- the same seeds give bitwise-identical checkpoint tensors whatever --threads is, resumed at another thread count too;
- batch B with k accumulation steps equals batch B*k without, within float rounding."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import (Failures, differing_tensors, read_safetensors, relative_difference,  # noqa: E402
                              run_bilmod, tempdir)
from bilmod_reference import train_run as train  # noqa: E402


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

        # Large enough that every kernel takes its multi-threaded path (1860 train pairs), full batch and batches of
        # 128. A run resumed at another thread count (2, then 1, then 2 threads, an epoch each) is the same bits too.
        wide = ["--model", model, "--mod-basis", 61, "--hidden-dim", 48, "--train-frac", 0.5, "--seed", 2,
                "--checkpoint-every", 1]
        for batches in (["--full-batch"], ["--batch-size", 128]):
            with tempdir() as one, tempdir() as two, tempdir() as hop:
                train(one, *wide, *batches, "--epochs", 3, "--threads", 1)
                train(two, *wide, *batches, "--epochs", 3, "--threads", 2)
                train(hop, *wide, *batches, "--epochs", 1, "--threads", 2)
                train(hop, "--resume-from", hop, "--epochs", 2, "--threads", 1)
                train(hop, "--resume-from", hop, "--epochs", 3, "--threads", 2)
                x, _ = read_safetensors(os.path.join(one, "checkpoint_epoch_3.safetensors"))
                y, _ = read_safetensors(os.path.join(two, "checkpoint_epoch_3.safetensors"))
                z, _ = read_safetensors(os.path.join(hop, "checkpoint_epoch_3.safetensors"))
                diff = differing_tensors(x, y)
                failures.check(not diff, f"{model} {batches[0]}: --threads 1 and 2 give bitwise-identical tensors "
                                         f"(differing: {diff})")
                diff = differing_tensors(x, z)
                failures.check(not diff, f"{model} {batches[0]}: resumed across thread counts (2, 1, 2) == 1 thread "
                                         f"straight, bitwise (differing: {diff})")
            # The default (--threads 0) times a step at 1 thread and at every core when the run starts and trains
            # with the faster (train/step_threads.h): the same bits as one thread, and the log says what it chose.
            # "Every core" is 2 here whatever ctest's OMP_NUM_THREADS=1 (which keeps -j2 from oversubscribing).
            with tempdir() as default:
                proc = run_bilmod("train", "--checkpoint-dir", default, "--no-progress", "--no-track", *wide, *batches,
                                  "--epochs", 3, env=dict(os.environ, OMP_NUM_THREADS="2"))
                y, _ = read_safetensors(os.path.join(default, "checkpoint_epoch_3.safetensors"))
                diff = differing_tensors(x, y)
                failures.check(not diff, f"{model} {batches[0]}: the default thread choice == 1 thread, bitwise "
                                         f"(differing: {diff})")
                failures.check("threads: steps on " in proc.stderr and " of 2 " in proc.stderr,
                               f"{model} {batches[0]}: the start logs the measured thread choice")

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
