"""Parity with PyTorch: from the same initial parameters (--init-from) and split, bilmod's training steps give the
losses and parameters that torch.optim gives on the reference module of each model (issue 2, "Correct, and shown to be").

Full-batch AdamW for 50 steps for every model; SGD with momentum; warm-up with a cosine schedule; a minibatch run
with gradient accumulation whose batch order this test reproduces from docs/MODELS.md's counter-based stream; and
every operation. Besides the parameters, the optimiser's state in the last checkpoint (exp_avg and exp_avg_sq, or
momentum_buffer) is compared with torch.optim's own.
"""
import math
import os

import torch
import torch.nn.functional as F

from bilmod_reference import (OPERATIONS, PARAM_RTOL, Failures, check_final_tensors, check_step_losses, make_model,
                              read_safetensors, relative_difference, run_bilmod, state_dict_numpy, step_batches,
                              step_losses, steps_per_epoch, tempdir, write_safetensors)

torch.set_num_threads(1)
STATE_RTOL = PARAM_RTOL  # AdamW's moments against torch.optim's


def lr_at(base, warmup, total, schedule, t):
    """docs/MODELS.md: lr * min(t/N, 1); cosine decays from lr to 0 over the run's total steps, after warm-up."""
    if warmup > 0 and t < warmup:
        return base * t / warmup
    if schedule == "constant":
        return base
    progress = min(max((t - warmup) / max(1, total - warmup), 0.0), 1.0)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def reference_run(model, train_pairs, p, operation, optimizer_name, epochs, batch_size, accum, full_batch, lr, wd,
                  momentum, warmup, schedule, seed):
    """Trains the reference module as bilmod's documents say; returns the loss of every optimiser step and the
    optimiser (its state is compared too)."""
    if optimizer_name == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd, momentum=momentum)
    n = len(train_pairs)
    micro = n if full_batch else batch_size
    total = epochs * steps_per_epoch(n, micro, accum)
    losses, t = [], 0
    for group in step_batches(train_pairs, p, epochs, seed, micro, accum):
        opt.zero_grad()
        batch_loss = 0.0
        for a, b in group:
            loss = F.cross_entropy(model(a, b), OPERATIONS[operation](a, b, p))
            (loss / accum).backward()
            batch_loss += loss.item()
        t += 1
        for g in opt.param_groups:
            g["lr"] = lr_at(lr, warmup, total, schedule, t)
        opt.step()
        losses.append(batch_loss / len(group))
    return losses, opt


CASES = [
    # name, model, P, H, extra bilmod flags, reference settings
    dict(name="bilinear full-batch adamw", model="bilinear", p=17, h=12, full_batch=True, epochs=50),
    dict(name="factored full-batch adamw", model="factored", p=31, h=24, full_batch=True, epochs=50),
    dict(name="mlp relu full-batch adamw", model="mlp", p=23, h=20, full_batch=True, epochs=50),
    dict(name="mlp quad full-batch adamw", model="mlp", p=23, h=20, activation="quad", full_batch=True, epochs=50),
    dict(name="factored full-batch sgd momentum", model="factored", p=23, h=16, full_batch=True, epochs=50,
         optimizer="sgd", lr=0.5, wd=1e-3, momentum=0.9),
    dict(name="mlp warm-up + cosine", model="mlp", p=23, h=16, full_batch=True, epochs=50, warmup=10,
         schedule="cosine"),
    dict(name="factored minibatch + accumulation", model="factored", p=23, h=16, full_batch=False, epochs=3,
         batch_size=16, accum=3, seed=5),
    dict(name="bilinear minibatch", model="bilinear", p=19, h=10, full_batch=False, epochs=2, batch_size=32, seed=3),
] + [
    # Every other operation (add is above): its labels, and for div the table without b = 0 (P prime).
    dict(name=f"factored full-batch adamw, {op}", model="factored", p=23, h=16, full_batch=True, epochs=20,
         operation=op)
    for op in OPERATIONS if op != "add"
]


def main():
    failures = Failures()
    for case in CASES:
        c = dict(activation="relu", operation="add", optimizer="adamw", lr=3e-3, wd=0.5, momentum=0.0, warmup=0,
                 schedule="constant", batch_size=128, accum=1, seed=0, train_frac=0.4)
        c.update(case)
        with tempdir() as d:
            torch.manual_seed(1234)
            model = make_model(c["model"], c["p"], c["h"], c["activation"])
            init = os.path.join(d, "init.safetensors")
            write_safetensors(init, state_dict_numpy(model))
            log = os.path.join(d, "log.jsonl")
            args = ["train", "--model", c["model"], "--mod-basis", c["p"], "--hidden-dim", c["h"],
                    "--activation", c["activation"], "--operation", c["operation"], "--optimizer", c["optimizer"],
                    "--learning-rate", c["lr"],
                    "--weight-decay", c["wd"], "--momentum", c["momentum"], "--warmup-steps", c["warmup"],
                    "--lr-schedule", c["schedule"], "--epochs", c["epochs"], "--batch-size", c["batch_size"],
                    "--grad-accum-steps", c["accum"], "--seed", c["seed"], "--train-frac", c["train_frac"],
                    "--init-from", init, "--checkpoint-dir", d, "--checkpoint-every", 0, "--no-progress",
                    "--log-level", "DEBUG", "--log-file", log, "--threads", 1, "--no-track"]
            if c["full_batch"]:
                args.append("--full-batch")
            run_bilmod(*args)
            first, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
            train_pairs = [int(x) for x in first["data.train_indices"]]
            ours = step_losses(log)
            if c["operation"] == "div":
                failures.check(all(i % c["p"] != 0 for i in train_pairs), f"{c['name']}: no pair with b = 0")
            theirs, opt = reference_run(model, train_pairs, c["p"], c["operation"], c["optimizer"], c["epochs"],
                                        c["batch_size"], c["accum"], c["full_batch"], c["lr"], c["wd"], c["momentum"],
                                        c["warmup"], c["schedule"], c["seed"])
            check_step_losses(failures, c["name"], ours, theirs)
            final, _ = read_safetensors(os.path.join(d, f"checkpoint_epoch_{c['epochs']}.safetensors"))
            check_final_tensors(failures, c["name"], final, state_dict_numpy(model))
            # The optimiser's state under torch.optim's names, in the parameters' PyTorch order.
            for name, param in model.named_parameters():
                state = opt.state[param]
                keys = ["exp_avg", "exp_avg_sq"] if c["optimizer"] == "adamw" else \
                    ["momentum_buffer"] if c["momentum"] else []
                for key in keys:
                    stored = f"optimizer.{name}.{key}"
                    if not failures.check(stored in final, f"{c['name']}: the checkpoint holds {stored}"):
                        continue
                    diff = relative_difference(final[stored], state[key].detach().numpy())
                    failures.check(diff <= STATE_RTOL, f"{c['name']}: final {stored} against torch.optim's, "
                                                       f"largest difference {diff:.3g} of its largest value "
                                                       f"(limit {STATE_RTOL})")
    failures.finish()


if __name__ == "__main__":
    main()
