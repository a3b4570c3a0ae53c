"""The interventions of issue 16 as run settings, end to end:
- grokfast's filter state is part of the checkpoint: N epochs straight == N/2, then resumed, bitwise (EMA and MA, with
  OrthoGrad and each loss), for the seed model's dense path and the factored model; MA also resumed from a window
  only partly filled (its warm-up not over), which fills and wraps after the resume;
- a resume with another --grokfast-lamb uses it: its tensors differ from the same resume with the run's own lamb, and
  its checkpoints' config records the new value;
- --threads 1 and 2 give bitwise-identical tensors with grokfast and OrthoGrad on;
- refusals: an MA window whose state exceeds the limit, a resume that changes the filter (one line, exit 2);
- every setting is in the saved config and sweepable with bilmod sweep --grid;
- bilmod evaluate reports the run's own loss (stablemax, mse, float64), as the checkpoint's metrics do."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import (BILMOD, Failures, check_threads_bitwise, differing_tensors,  # noqa: E402
                              read_safetensors, run_bilmod, tempdir)
from bilmod_reference import train_run as train  # noqa: E402


def main():
    failures = Failures()
    cases = [
        ("bilinear", ["--grokfast", "ema", "--grokfast-alpha", 0.9]),
        ("bilinear", ["--grokfast", "ma", "--grokfast-window", 4, "--orthograd"]),
        ("factored", ["--grokfast", "ma", "--grokfast-window", 5, "--loss", "stablemax"]),
        ("factored", ["--grokfast", "ema", "--orthograd", "--loss", "mse", "--optimizer", "sgd", "--momentum", 0.9]),
        ("mlp", ["--grokfast", "ema", "--loss-precision", "float64", "--grad-accum-steps", 2]),
        # 9 steps an epoch: the resume at epoch 3 (step 27) finds 27 of the 40 slots filled, the filter not yet
        # applied; it fills at step 40 and wraps after.
        ("bilinear", ["--grokfast", "ma", "--grokfast-window", 40]),
    ]
    partial_resumes = []
    for model, extra in cases:
        name = f"{model} {' '.join(map(str, extra))}"
        common = ["--model", model, "--mod-basis", 23, "--hidden-dim", 16, "--batch-size", 32, "--train-frac", 0.5,
                  "--seed", 3, "--checkpoint-every", 2, "--threads", 1, *extra]
        with tempdir() as straight, tempdir() as resumed:
            train(straight, *common, "--epochs", 6)
            train(resumed, *common, "--epochs", 3)
            train(resumed, "--resume-from", os.path.join(resumed, "checkpoint_epoch_3.safetensors"), "--epochs", 6)
            a, meta_a = read_safetensors(os.path.join(straight, "checkpoint_epoch_6.safetensors"))
            b, meta_b = read_safetensors(os.path.join(resumed, "checkpoint_epoch_6.safetensors"))
            filters = [k for k in a if k.startswith("grokfast.")]
            failures.check(len(filters) > 0 and meta_a.get("grokfast_steps") == meta_a["step"],
                           f"{name}: the checkpoint holds the filter state ({len(filters)} tensors, "
                           f"grokfast_steps {meta_a.get('grokfast_steps')} of {meta_a['step']} steps)")
            diff = differing_tensors(a, b)
            failures.check(not diff, f"{name}: 6 epochs straight == 3 + resumed 3, bitwise (differing: {diff})")
            failures.check(json.loads(meta_a["metrics"]) == json.loads(meta_b["metrics"]),
                           f"{name}: same metrics after resume")
            if "ma" in extra:
                window = extra[extra.index("--grokfast-window") + 1]
                _, meta_3 = read_safetensors(os.path.join(resumed, "checkpoint_epoch_3.safetensors"))
                filled = int(meta_3["grokfast_steps"])
                if filled < window:
                    partial_resumes.append(name)
                failures.check(window <= int(meta_a["step"]),
                               f"{name}: resumed with {min(filled, window)} of {window} slots filled; the window is "
                               f"full before the run's {meta_a['step']} steps end, so the filter acts")
            # The same resume with another lamb (the run's own: grokfast.py's default, 2 for ema and 5 for ma).
            with tempdir() as other:
                train(other, "--resume-from", os.path.join(resumed, "checkpoint_epoch_3.safetensors"), "--epochs", 6,
                      "--grokfast-lamb", 0.5)
                c, meta_c = read_safetensors(os.path.join(other, "checkpoint_epoch_6.safetensors"))
            same_start = {k: v for k, v in b.items() if not k.startswith("grokfast.")}
            changed = [k for k in differing_tensors(same_start, c) if not k.startswith("grokfast.")]
            failures.check(bool(changed), f"{name}: resumed with --grokfast-lamb 0.5 instead of the run's own, the "
                                          f"tensors differ ({len(changed)} differ: {changed[:2]} ...)")
            lamb = {run: json.loads(meta["config"])["grokfast_lamb"] for run, meta in
                    (("straight", meta_a), ("resumed", meta_b), ("other", meta_c))}
            failures.check(lamb["other"] == 0.5 and lamb["resumed"] == lamb["straight"],
                           f"{name}: that resume's checkpoint records grokfast_lamb 0.5 ({lamb['other']}; the run's "
                           f"own {lamb['straight']}, kept by the plain resume: {lamb['resumed']})")
            report = json.loads(run_bilmod("evaluate", os.path.join(straight, "checkpoint_epoch_6.safetensors")).stdout)
            metrics = json.loads(meta_a["metrics"])
            failures.check(all(report[k] == metrics[k] for k in ("train/loss", "val/loss", "val/accuracy")),
                           f"{name}: bilmod evaluate reports the run's own loss, as the checkpoint's metrics "
                           f"({report['train/loss']} vs {metrics['train/loss']})")
            config = json.loads(meta_a["config"])
            flags = {str(extra[i]).lstrip("-").replace("-", "_"): extra[i + 1] for i in range(len(extra))
                     if str(extra[i]).startswith("--") and i + 1 < len(extra) and not str(extra[i + 1]).startswith("--")}
            saved = all(str(config[k]) == str(v) for k, v in flags.items()) and (
                "--orthograd" not in extra or config["orthograd"] is True)
            failures.check(saved, f"{name}: the settings are in the saved config ({ {k: config[k] for k in flags} })")
    failures.check(len(partial_resumes) > 0, f"an MA filter resumed from a partly filled window ({partial_resumes})")

    wide = ["--model", "bilinear", "--mod-basis", 61, "--hidden-dim", 48, "--train-frac", 0.5, "--seed", 2, "--epochs", 2,
            "--batch-size", 512, "--grokfast", "ema", "--orthograd", "--loss", "stablemax"]
    check_threads_bitwise(failures, wide, 2, "grokfast and OrthoGrad")

    with tempdir() as d:
        proc = train(d, "--grokfast", "ma", "--grokfast-window", 1000, "--epochs", 1, expect=2)
        lines = proc.stderr.strip().splitlines()
        failures.check(len(lines) == 1 and "MiB" in lines[0] and "limit" in lines[0] and not os.listdir(d),
                       f"an MA window over the memory limit: one line, exit 2, nothing written ({lines})")
        train(d, "--model", "factored", "--mod-basis", 11, "--epochs", 1, "--grokfast", "ema")
        proc = train(d, "--resume-from", d, "--epochs", 2, "--grokfast", "ma", expect=2)
        lines = proc.stderr.strip().splitlines()
        failures.check(len(lines) == 1 and "cannot resume the filter state" in lines[0],
                       f"a resume that changes the filter: one line, exit 2 ({lines})")
        proc = train(d, "--resume-from", d, "--epochs", 2, "--grokfast-lamb", 3)
        _, meta = read_safetensors(os.path.join(d, "checkpoint_epoch_2.safetensors"))
        failures.check(proc.returncode == 0 and json.loads(meta["config"])["grokfast_lamb"] == 3,
                       f"a resume may change --grokfast-lamb (saved: {json.loads(meta['config'])['grokfast_lamb']})")
        for bad in (["--grokfast", "fast"], ["--loss", "hinge"], ["--loss-precision", "float16"],
                    ["--grokfast-alpha", 1], ["--grokfast-window", 0]):
            proc = train(d, "--epochs", 1, *bad, expect=2)
            lines = proc.stderr.strip().splitlines()
            failures.check(len(lines) == 1 and bad[0] in lines[0], f"{' '.join(map(str, bad))}: one line, exit 2 ({lines})")

    with tempdir() as out:
        proc = subprocess.run([BILMOD, "sweep", "--model", "factored", "--mod-basis", "11", "--hidden-dim", "8", "--epochs", "2",
                               "--no-track", "--jobs", "1", "--output-dir", out, "--grid", "grokfast=none,ema",
                               "--grid", "loss=cross_entropy,stablemax", "--grid", "orthograd=false,true"],
                              capture_output=True, text=True)
        failures.check(proc.returncode == 0, f"bilmod sweep --grid over the interventions exits 0 ({proc.stderr[-400:]})")
        with open(os.path.join(out, "summary.json")) as f:
            rows = json.load(f)
        rows = rows["runs"] if isinstance(rows, dict) else rows
        seen = set()
        for row in rows:
            run_dir = os.path.join(out, row["run"])
            ckpts = [os.path.join(dp, f) for dp, _, fs in os.walk(run_dir) for f in fs if f == "checkpoint_epoch_2.safetensors"]
            if ckpts:
                _, meta = read_safetensors(ckpts[0])
                c = json.loads(meta["config"])
                seen.add((c["grokfast"], c["loss"], c["orthograd"]))
        failures.check(len(seen) == 8, f"the sweep ran every combination, each saved in its config ({sorted(seen)})")
    failures.finish()


if __name__ == "__main__":
    main()
