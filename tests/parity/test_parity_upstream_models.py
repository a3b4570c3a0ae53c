"""The seed's upstream's models trained by bilmod, against PyTorch (issue 14).

`bilmod train --model bilinear --no-bias --no-output-projection` is the upstream's default model, nn.Bilinear(P, P, P,
bias=False) straight to the logits; `--no-bias` alone with `--activation none` its use_output_projection model,
nn.Bilinear(P, P, H, bias=False) -> nn.Linear(H, P, bias=False). From the same initial parameters (--init-from) and
split, bilmod's per-step losses and final parameters match torch.optim.AdamW on the module built as the upstream
builds it (tolerances as tests/parity/test_parity_optimizer.py); each checkpoint loads into that module with
load_state_dict(strict=True) and gives bilmod's logits there. Bad combinations of the flags are one-line usage errors.
"""
import os
import subprocess

import numpy as np
import torch

from bilmod_reference import (BILMOD, Failures, check_final_tensors, check_step_losses, make_model, read_safetensors,
                              run_bilmod, state_dict_numpy, step_losses, tempdir, write_safetensors)
from test_parity_optimizer import reference_run

torch.set_num_threads(1)

CASES = [
    # name, bilmod flags, reference module arguments, run
    dict(name="upstream direct (no projection, no bias) full-batch", p=17, h=None, bias=False, projection=False,
         activation="none", full_batch=True, epochs=50),
    dict(name="upstream projection (no bias, no activation) full-batch", p=17, h=12, bias=False, projection=True,
         activation="none", full_batch=True, epochs=50),
    dict(name="bilinear no bias, relu, full-batch", p=17, h=12, bias=False, projection=True, activation="relu",
         full_batch=True, epochs=40),
    dict(name="bilinear with biases, no activation, full-batch", p=13, h=10, bias=True, projection=True,
         activation="none", full_batch=True, epochs=40),
    dict(name="upstream direct minibatch", p=19, h=None, bias=False, projection=False, activation="none",
         full_batch=False, epochs=2, batch_size=32, seed=3),
]


def bilmod_flags(c):
    flags = ["--model", "bilinear", "--mod-basis", c["p"]]
    if c["h"] is not None:
        flags += ["--hidden-dim", c["h"]]
    if not c["bias"]:
        flags.append("--no-bias")
    if not c["projection"]:
        flags.append("--no-output-projection")
    else:
        flags += ["--activation", c["activation"]]
    return flags


def main():
    failures = Failures()
    for case in CASES:
        c = dict(lr=3e-3, wd=0.5, batch_size=128, seed=0, train_frac=0.4)
        c.update(case)
        with tempdir() as d:
            torch.manual_seed(4321)
            model = make_model("bilinear", c["p"], c["h"] or c["p"], c["activation"], c["bias"], c["projection"])
            init = os.path.join(d, "init.safetensors")
            write_safetensors(init, state_dict_numpy(model))
            log = os.path.join(d, "log.jsonl")
            args = ["train", *bilmod_flags(c), "--learning-rate", c["lr"], "--weight-decay", c["wd"],
                    "--epochs", c["epochs"], "--batch-size", c["batch_size"], "--seed", c["seed"],
                    "--train-frac", c["train_frac"], "--init-from", init, "--checkpoint-dir", d, "--checkpoint-every", 0,
                    "--no-progress", "--log-level", "DEBUG", "--log-file", log, "--threads", 1, "--no-track"]
            if c["full_batch"]:
                args.append("--full-batch")
            run_bilmod(*args)
            first, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
            train_pairs = [int(x) for x in first["data.train_indices"]]
            ours = step_losses(log)
            theirs, _ = reference_run(model, train_pairs, c["p"], "add", "adamw", c["epochs"], c["batch_size"], 1,
                                      c["full_batch"], c["lr"], c["wd"], 0.0, 0, "constant", c["seed"])
            check_step_losses(failures, c["name"], ours, theirs)
            last = os.path.join(d, f"checkpoint_epoch_{c['epochs']}.safetensors")
            final, _ = read_safetensors(last)
            check_final_tensors(failures, c["name"], final, state_dict_numpy(model))
            # The checkpoint is the upstream's state dict: strict load, then the same logits on every pair.
            fresh = make_model("bilinear", c["p"], c["h"] or c["p"], c["activation"], c["bias"], c["projection"])
            tensors = {k: torch.from_numpy(v) for k, v in final.items() if not k.startswith(("optimizer.", "data."))}
            try:
                fresh.load_state_dict(tensors, strict=True)
                loaded = True
            except RuntimeError as e:
                print(e)
                loaded = False
            failures.check(loaded, f"{c['name']}: checkpoint loads with load_state_dict(strict=True): {sorted(tensors)}")
            logits_file = os.path.join(d, "logits.safetensors")
            run_bilmod("evaluate", last, "--output", logits_file)
            got, _ = read_safetensors(logits_file)
            pairs = torch.from_numpy(got["pair_index"])
            with torch.no_grad():
                want = fresh(pairs // c["p"], pairs % c["p"]).numpy()
            diff = float(np.max(np.abs(got["logits"] - want)))
            failures.check(diff <= 1e-5 * max(1.0, float(np.abs(want).max())),
                           f"{c['name']}: logits on every pair against the loaded module, largest difference {diff:.3g}")

    # Usage errors: one line, exit 2, nothing written.
    with tempdir() as d:
        for flags, words in [(["--no-output-projection", "--hidden-dim", "50"], "--hidden-dim"),
                             (["--no-output-projection", "--activation", "relu"], "--activation relu"),
                             (["--model", "factored", "--no-bias"], "--no-bias"),
                             (["--model", "mlp", "--activation", "none"], "--activation none")]:
            out = os.path.join(d, "run")
            proc = subprocess.run([BILMOD, "train", "--mod-basis", "11", *flags, "--epochs", "1", "--checkpoint-dir", out,
                                   "--no-progress", "--no-track"], capture_output=True, text=True)
            failures.check(proc.returncode == 2 and proc.stderr.count("\n") == 1 and words in proc.stderr
                           and not os.path.exists(out),
                           f"train {' '.join(flags)}: usage error in one line naming {words} (exit {proc.returncode}: "
                           f"{proc.stderr.strip()})")
    failures.finish()


if __name__ == "__main__":
    main()
