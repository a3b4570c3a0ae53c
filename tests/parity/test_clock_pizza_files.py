"""bilmod reads the Clock-and-Pizza paper's saved runs: model_<id>.pt (torch.save of its Transformer's state dict) with
config_<id>.json beside it, both written here as train-main.py writes them, with the paper's module.

For two runs (one block, ReLU, plain (a, b); two blocks, GeLU, diff_vocab and eqn_sign, alpha 0.3):
- `evaluate` gives the loss (float64 cross-entropy over the vocabulary) and accuracy over every pair that the module
  gives;
- `analyze --json` gives the distance irrelevance (cell 10's ratio on the correct logit, and train-main.py's on the
  highest incorrect one) computed here from the module's logits;
- `train --init-from` starts from exactly the file's parameters, and `visualize-checkpoint` draws it;
Hostile files: a config with a value out of range or of the wrong type, a state dict with a tensor the config's model
does not have or a shape it does not give, and a config that asks for continuing (--resume-from) are one line each and
exit 1, nothing written.
"""
import json
import os

import numpy as np
import torch

from bilmod_reference import Failures, read_safetensors, run_bilmod, tempdir, train_run
from pizza_reference import Transformer, cross_entropy_high_precision, inputs

torch.set_num_threads(1)
P = 13


def paper_config(runid, layers, act, alpha, diff_vocab, eqn_sign, d_model=32):
    return {"name": f"modadd_{P}", "funcs": f"lambda x: (x[0]+x[1])%{P}", "C": P, "n_heads": 4, "d_model": d_model,
            "n_layers": layers, "attention_dir": "casual", "act_fn": act, "epoch": 20000, "batch_size": P * P,
            "lr": 0.001, "weight_decay": 2.0, "frac": 0.8, "attn_coeff": alpha, "runid": runid,
            "diff_vocab": diff_vocab, "eqn_sign": eqn_sign, "func": None}


def save_run(d, config, model=None):
    """torch.save(model.state_dict()) and the config, as the paper's save/ folder holds them; returns the .pt path."""
    torch.manual_seed(7)
    if model is None:
        model = paper_model(config)
    runid = config["runid"]
    torch.save(model.state_dict(), os.path.join(d, f"model_{runid}.pt"))
    with open(os.path.join(d, f"config_{runid}.json"), "w") as f:
        json.dump(config, f)
    return os.path.join(d, f"model_{runid}.pt"), model


def paper_model(config):
    vocab = P * (2 if config["diff_vocab"] else 1) + (1 if config["eqn_sign"] else 0)
    n_ctx = 3 if config["eqn_sign"] else 2
    model = Transformer(config["n_layers"], vocab, config["d_model"], config["d_model"] // config["n_heads"],
                        config["n_heads"], n_ctx, config["act_fn"], config["attn_coeff"])
    with torch.no_grad():  # away from initialisation, so the measures have something to tell
        for p in model.parameters():
            p.mul_(2.0)
    return model


def distance_irrelevance(logits):
    """Cell 10's ratio: L[(a + b) % P][(a - b) % P], then mean over columns of the std over rows / std of all."""
    table = np.zeros((P, P))
    for a in range(P):
        for b in range(P):
            table[(a + b) % P][(a - b) % P] = logits[a * P + b]
    return float(np.mean(np.std(table, axis=0)) / np.std(table))


def check_run(failures, config):
    label = f"{config['n_layers']} block(s), {config['act_fn']}, alpha {config['attn_coeff']}"
    with tempdir() as d:
        path, model = save_run(d, config)
        pairs = list(range(P * P))
        data, labels, _ = inputs(pairs, P, config["diff_vocab"], config["eqn_sign"])
        with torch.no_grad():
            logits = model(data)[:, -1, :]
            loss = cross_entropy_high_precision(logits, labels).item()
            accuracy = (logits.argmax(dim=1) == labels).double().mean().item()
            correct = logits[torch.arange(P * P), labels].double().numpy()
            masked = logits.clone()
            masked[torch.arange(P * P), labels] = float("-inf")
            incorrect = masked.max(dim=1).values.double().numpy()

        out = json.loads(run_bilmod("evaluate", path).stdout)
        ours = out["train/loss"]  # every pair is "train": the file holds no split
        failures.check(abs(ours - loss) <= 1e-5 * abs(loss),
                       f"{label}: evaluate's loss over every pair {ours:.7f} (the module's {loss:.7f})")
        failures.check(out["train/accuracy"] == accuracy,
                       f"{label}: evaluate's accuracy {out['train/accuracy']} (the module's {accuracy})")

        report = json.loads(run_bilmod("analyze", path, "--json").stdout)
        measures = report["measures"]
        for name, logit in [("distance_irrelevance", correct), ("distance_irrelevance_incorrect", incorrect)]:
            expected = distance_irrelevance(logit)
            failures.check(abs(measures[name] - expected) <= 1e-4,
                           f"{label}: {name} {measures[name]:.6f} (from the module's logits {expected:.6f})")

        with tempdir() as run:
            train_run(run, "--init-from", path, "--model", "clock-pizza", "--mod-basis", P, "--d-model",
                      config["d_model"], "--num-heads", 4, "--num-layers", config["n_layers"], "--attention-rate",
                      config["attn_coeff"], "--mlp", config["act_fn"].lower(),
                      *(["--diff-vocab"] if config["diff_vocab"] else []),
                      *(["--eqn-sign"] if config["eqn_sign"] else []), "--epochs", 0)
            start, _ = read_safetensors(os.path.join(run, "checkpoint_epoch_0.safetensors"))
            theirs = {k: v.numpy() for k, v in model.state_dict().items()}
            same = all(np.array_equal(start[k], v) for k, v in theirs.items())
            failures.check(same, f"{label}: --init-from model_<id>.pt starts from exactly its parameters")
        with tempdir() as figures:
            run_bilmod("visualize-checkpoint", path, "--output-dir", figures)
            failures.check(len(os.listdir(figures)) > 0, f"{label}: visualize-checkpoint draws it")


def check_hostile(failures):
    config = paper_config("hostile", 1, "ReLU", 0.5, 0, 0)
    bad_configs = [("attn_coeff", 1.5), ("attn_coeff", "half"), ("C", 0), ("n_layers", 1000), ("d_model", 30),
                   ("act_fn", "Swish"), ("funcs", "lambda x: (x[0]**x[1])%13"), ("C", 12)]
    for key, value in bad_configs:
        with tempdir() as d:
            path, _ = save_run(d, config)
            with open(os.path.join(d, "config_hostile.json"), "w") as f:
                json.dump({**config, key: value}, f)
            proc = run_bilmod("evaluate", path, expect=1)
            lines = proc.stderr.strip().splitlines()
            failures.check(len(lines) == 1 and not proc.stdout.strip(),
                           f"config {key} = {value!r}: one line, exit 1 ({lines[-1] if lines else ''})")
    with tempdir() as d:  # a tensor the config's model does not have: a second block
        path, _ = save_run(d, {**config, "n_layers": 2})
        with open(os.path.join(d, "config_hostile.json"), "w") as f:
            json.dump(config, f)
        proc = run_bilmod("evaluate", path, expect=1)
        failures.check("blocks.1.attn.W_K" in proc.stderr, f"a second block the config lacks: {proc.stderr.strip()}")
    with tempdir() as d:  # a shape the config does not give: d_model 64 in the file, 32 in the config
        path, _ = save_run(d, {**config, "d_model": 64})
        with open(os.path.join(d, "config_hostile.json"), "w") as f:
            json.dump(config, f)
        proc = run_bilmod("evaluate", path, expect=1)
        failures.check("has shape" in proc.stderr, f"a shape the config does not give: {proc.stderr.strip()}")
    with tempdir() as d, tempdir() as run:
        path, _ = save_run(d, config)
        proc = train_run(run, "--resume-from", path, expect=1)
        failures.check("--init-from" in proc.stderr and not os.listdir(run),
                       f"--resume-from a paper's file: {proc.stderr.strip()}")


def main():
    failures = Failures()
    check_run(failures, paper_config("onerelu", 1, "ReLU", 1.0, 0, 0))
    check_run(failures, paper_config("twogelu", 2, "GeLU", 0.3, 1, 1))
    check_hostile(failures)
    failures.finish()


if __name__ == "__main__":
    main()
