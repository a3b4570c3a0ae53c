"""Omnigrok's --init-scale and --fixed-norm as run settings, end to end:
- --fixed-norm's target (the norm right after initialisation and --init-scale) is saved in every checkpoint: N epochs
  straight == N/2, then resumed, bitwise, for the seed model (whose rows are otherwise lazy) and the factored model;
- a resume that turns --fixed-norm on restores the run's initial norm; a resume may not change --init-scale (exit 2);
- --threads 1 and 2 give bitwise-identical tensors with --fixed-norm;
- both settings are in the saved config and sweepable with bilmod sweep --grid."""
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import (BILMOD, Failures, check_threads_bitwise, differing_tensors,  # noqa: E402
                              read_safetensors, tempdir)
from bilmod_reference import train_run as train  # noqa: E402


def norm_of(tensors):
    return math.sqrt(sum(float((v.astype("float64") ** 2).sum()) for k, v in tensors.items()
                         if not k.startswith(("optimizer.", "data.", "grokfast."))))


def main():
    failures = Failures()
    for model in ("bilinear", "factored"):
        name = f"{model} --init-scale 3 --fixed-norm"
        common = ["--model", model, "--mod-basis", 23, "--hidden-dim", 16, "--batch-size", 32, "--train-frac", 0.5,
                  "--seed", 3, "--checkpoint-every", 2, "--threads", 1, "--learning-rate", 0.01, "--weight-decay", 0,
                  "--init-scale", 3, "--fixed-norm"]
        with tempdir() as straight, tempdir() as resumed:
            train(straight, *common, "--epochs", 6)
            train(resumed, *common, "--epochs", 3)
            train(resumed, "--resume-from", os.path.join(resumed, "checkpoint_epoch_3.safetensors"), "--epochs", 6)
            a, meta_a = read_safetensors(os.path.join(straight, "checkpoint_epoch_6.safetensors"))
            b, meta_b = read_safetensors(os.path.join(resumed, "checkpoint_epoch_6.safetensors"))
            diff = differing_tensors(a, b)
            failures.check(not diff, f"{name}: 6 epochs straight == 3 + resumed 3, bitwise (differing: {diff})")
            failures.check(json.loads(meta_a["metrics"]) == json.loads(meta_b["metrics"]) and
                           meta_a["initial_norm"] == meta_b["initial_norm"],
                           f"{name}: same metrics and initial_norm after resume")
            zero, meta_0 = read_safetensors(os.path.join(straight, "checkpoint_epoch_0.safetensors"))
            target = float(meta_0["initial_norm"])
            failures.check(abs(norm_of(zero) - target) <= 1e-12 * target and abs(norm_of(a) - target) <= 1e-6 * target,
                           f"{name}: initial_norm {target!r} is epoch 0's norm ({norm_of(zero)!r}); epoch 6's "
                           f"{norm_of(a)!r}")
            config = json.loads(meta_b["config"])
            failures.check(config["init_scale"] == 3 and config["fixed_norm"] is True,
                           f"{name}: the resumed run's config keeps init_scale and fixed_norm ({config['init_scale']}, "
                           f"{config['fixed_norm']})")
            proc = train(resumed, "--resume-from", resumed, "--epochs", 7, "--init-scale", 2, expect=2)
            lines = proc.stderr.strip().splitlines()
            failures.check(len(lines) == 1 and "--init-scale" in lines[0],
                           f"{name}: a resume that changes --init-scale: one line, exit 2 ({lines})")

    # A run without --fixed-norm, resumed with it: the norm returns to the run's initial one, not the resumed one.
    with tempdir() as d:
        base = ["--model", "factored", "--mod-basis", 23, "--hidden-dim", 16, "--train-frac", 0.5, "--seed", 1,
                "--threads", 1, "--learning-rate", 0.01, "--weight-decay", 0, "--init-scale", 0.5]
        train(d, *base, "--epochs", 3)
        x, meta_x = read_safetensors(os.path.join(d, "checkpoint_epoch_3.safetensors"))
        train(d, "--resume-from", d, "--epochs", 4, "--fixed-norm")
        y, meta_y = read_safetensors(os.path.join(d, "checkpoint_epoch_4.safetensors"))
        target = float(meta_x["initial_norm"])
        failures.check(abs(norm_of(x) - target) > 1e-3 * target and abs(norm_of(y) - target) <= 1e-6 * target and
                       json.loads(meta_y["config"])["fixed_norm"] is True,
                       f"resumed with --fixed-norm: the norm goes from {norm_of(x):.6g} back to the initial "
                       f"{target:.6g} ({norm_of(y):.6g})")

    wide = ["--model", "bilinear", "--mod-basis", 61, "--hidden-dim", 48, "--train-frac", 0.5, "--seed", 2, "--epochs", 2,
            "--batch-size", 512, "--init-scale", 2, "--fixed-norm"]
    check_threads_bitwise(failures, wide, 2, "--fixed-norm")

    with tempdir() as out:
        proc = subprocess.run([BILMOD, "sweep", "--model", "factored", "--mod-basis", "11", "--hidden-dim", "8",
                               "--epochs", "2", "--no-track", "--jobs", "1", "--output-dir", out,
                               "--grid", "init_scale=0.5,2", "--grid", "fixed_norm=false,true"],
                              capture_output=True, text=True)
        failures.check(proc.returncode == 0, f"bilmod sweep --grid init_scale, fixed_norm exits 0 ({proc.stderr[-400:]})")
        seen = set()
        for dp, _, fs in os.walk(out):
            if "checkpoint_epoch_2.safetensors" in fs:
                _, meta = read_safetensors(os.path.join(dp, "checkpoint_epoch_2.safetensors"))
                c = json.loads(meta["config"])
                seen.add((c["init_scale"], c["fixed_norm"]))
        failures.check(len(seen) == 4, f"the sweep ran every combination, each saved in its config ({sorted(seen)})")
    failures.finish()


if __name__ == "__main__":
    main()
