"""Parity with PyTorch of Omnigrok's two training controls (Liu, Michaud, Tegmark 2022; KindXiaoming/Omnigrok,
mod-addition/grokking/modular-addition-grokking.ipynb): from the same initial parameters and split, bilmod's steps with
--init-scale alpha (alone, and with --fixed-norm) give the losses and parameters of the notebook's code transcribed here
in PyTorch, full batch and mini-batch (the seed model's bilinear, whose rows the optimiser otherwise updates lazily,
and with accumulation). Also: checkpoint_epoch_0 holds the scaled parameters, the --fixed-norm runs end at the initial
norm, and both settings are in the saved config.

The reference is the notebook's code, not bilmod's:
    with torch.no_grad():
        for param in model.parameters(): param.data *= alpha
        norm = np.sqrt(sum(param.pow(2).sum().item() for param in model.parameters()))
    ... loss.backward(); optimizer.step()
    with torch.no_grad():
        new_norm = np.sqrt(sum(param.pow(2).sum().item() for param in model.parameters()))
        for param in model.parameters(): param.data *= norm / new_norm
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from bilmod_reference import (Failures, check_final_tensors, check_step_losses, make_model, step_batches,
                              read_safetensors, relative_difference, run_bilmod, state_dict_numpy, step_losses,
                              tempdir, write_safetensors)

torch.set_num_threads(1)


def total_norm(model):
    return np.sqrt(sum(param.pow(2).sum().item() for param in model.parameters()))


def init_scale(model, alpha):
    with torch.no_grad():
        for param in model.parameters():
            param.data *= alpha
    return total_norm(model)


def restore_norm(model, norm):
    with torch.no_grad():
        new_norm = total_norm(model)
        for param in model.parameters():
            param.data *= norm / new_norm


def reference_run(model, train_pairs, c, norm):
    p, n = c["p"], len(train_pairs)
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["wd"])
    micro = n if c["full_batch"] else c["batch_size"]
    accum = c["accum"]
    losses = []
    for group in step_batches(train_pairs, p, c["epochs"], c["seed"], micro, accum):
        opt.zero_grad()
        batch_loss = 0.0
        for a, b in group:
            loss = F.cross_entropy(model(a, b), (a + b) % p)
            (loss / accum).backward()
            batch_loss += loss.item()
        opt.step()
        if c["fixed_norm"]:
            restore_norm(model, norm)
        losses.append(batch_loss / len(group))
    return losses


CASES = [
    dict(name="factored full-batch --init-scale 3 --fixed-norm", model="factored", p=31, h=24, full_batch=True,
         epochs=40, alpha=3.0, fixed_norm=True),
    dict(name="bilinear minibatch --init-scale 3 --fixed-norm (rows dense)", model="bilinear", p=17, h=10, epochs=3,
         batch_size=24, seed=3, alpha=3.0, fixed_norm=True),
    dict(name="mlp minibatch+accum --init-scale 3 --fixed-norm", model="mlp", p=23, h=16, epochs=3, batch_size=16,
         accum=2, seed=8, alpha=3.0, fixed_norm=True),
    dict(name="mlp full-batch --init-scale 0.5", model="mlp", p=23, h=20, full_batch=True, epochs=40, alpha=0.5),
    dict(name="bilinear minibatch --init-scale 0.5 (lazy rows)", model="bilinear", p=17, h=10, epochs=3,
         batch_size=24, seed=5, alpha=0.5),
]


def main():
    failures = Failures()
    for case in CASES:
        c = dict(lr=1e-2, wd=0.0, batch_size=128, accum=1, seed=0, train_frac=0.4, full_batch=False, fixed_norm=False)
        c.update(case)
        with tempdir() as d:
            torch.manual_seed(1234)
            model = make_model(c["model"], c["p"], c["h"])
            init = os.path.join(d, "init.safetensors")
            write_safetensors(init, state_dict_numpy(model))  # unscaled: bilmod applies --init-scale itself
            log = os.path.join(d, "log.jsonl")
            args = ["train", "--model", c["model"], "--mod-basis", c["p"], "--hidden-dim", c["h"],
                    "--optimizer", "adamw", "--learning-rate", c["lr"], "--weight-decay", c["wd"],
                    "--epochs", c["epochs"], "--batch-size", c["batch_size"], "--grad-accum-steps", c["accum"],
                    "--seed", c["seed"], "--train-frac", c["train_frac"], "--init-scale", c["alpha"],
                    "--init-from", init, "--checkpoint-dir", d, "--checkpoint-every", 0, "--no-progress",
                    "--log-level", "DEBUG", "--log-file", log, "--threads", 1, "--no-track"]
            if c["full_batch"]:
                args.append("--full-batch")
            if c["fixed_norm"]:
                args.append("--fixed-norm")
            run_bilmod(*args)
            first, meta0 = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
            train_pairs = [int(x) for x in first["data.train_indices"]]
            norm = init_scale(model, c["alpha"])
            initial = state_dict_numpy(model)
            worst = max(relative_difference(first[k], v) for k, v in initial.items())
            failures.check(worst == 0.0, f"{c['name']}: checkpoint_epoch_0 holds the initial parameters times "
                                         f"{c['alpha']}, bitwise (largest difference {worst:.3g})")
            config = json.loads(meta0["config"])
            failures.check(config["init_scale"] == c["alpha"] and config["fixed_norm"] is c["fixed_norm"],
                           f"{c['name']}: the config saves init_scale {config['init_scale']}, fixed_norm "
                           f"{config['fixed_norm']}")
            saved_norm = float(meta0.get("initial_norm", "nan"))
            failures.check(abs(saved_norm - norm) <= 1e-6 * norm,
                           f"{c['name']}: the checkpoint's initial_norm {saved_norm!r} is the notebook's norm {norm!r}")
            ours = step_losses(log)
            theirs = reference_run(model, train_pairs, c, norm)
            check_step_losses(failures, c["name"], ours, theirs)
            final, _ = read_safetensors(os.path.join(d, f"checkpoint_epoch_{c['epochs']}.safetensors"))
            reference = state_dict_numpy(model)
            check_final_tensors(failures, c["name"], final, reference)
            absdiff = max(float(np.max(np.abs(final[k].astype(np.float64) - v))) for k, v in reference.items())
            print(f"     {c['name']}: max abs difference of the final parameters {absdiff:.3g}")
            final_norm = np.sqrt(sum(float(np.sum(final[k].astype(np.float64) ** 2)) for k in reference))
            if c["fixed_norm"]:
                failures.check(abs(final_norm - norm) <= 1e-6 * norm,
                               f"{c['name']}: the final norm {final_norm:.9g} is the initial {norm:.9g}")
            else:
                failures.check(abs(final_norm - norm) > 1e-3 * norm,
                               f"{c['name']}: without --fixed-norm the norm moves ({norm:.6g} to {final_norm:.6g})")
    failures.finish()


if __name__ == "__main__":
    main()
