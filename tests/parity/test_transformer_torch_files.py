"""The field's transformer files, read by bilmod: the paper's torch.save dicts ({'model': state_dict, 'epoch'}, and
init.pth's 'train_data'/'test_data' lists of (a, b, P) as the split) and TransformerLens HookedTransformer state dicts
(transposed layouts; b_Q, b_K, b_V, b_O, b_U accepted when zero, refused with one line otherwise).

A small transformer trained by bilmod for a few epochs is written in both forms with torch.save; `bilmod evaluate` on
each gives the loss PyTorch computes for the same parameters on the same split, `--init-from` a TransformerLens file
starts from exactly its parameters, `evaluate --output` writes all P + 1 logits per pair (the loss PyTorch
computes follows from them), and a nonzero bias is refused with exit code 1 and one line.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

from bilmod_reference import Failures, read_safetensors, run_bilmod, tempdir

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import skipping  # noqa: E402  (tests/skipping.py)

P, D, HEADS, M = 23, 32, 4, 64


def torch_loss(sd, pairs):
    """The paper's forward at the last position, float32 log-softmax over all P + 1 logits."""
    pairs = torch.tensor(pairs)
    a, b = pairs // P, pairs % P
    x = torch.stack([a, b, torch.full_like(a, P)], 1)
    e = sd["embed.W_E"][:, x].permute(1, 2, 0) + sd["pos_embed.W_pos"]
    k = torch.einsum("ihd,bpd->biph", sd["blocks.0.attn.W_K"], e)
    q = torch.einsum("ihd,bpd->biph", sd["blocks.0.attn.W_Q"], e)
    v = torch.einsum("ihd,bpd->biph", sd["blocks.0.attn.W_V"], e)
    s = torch.einsum("biph,biqh->biqp", k, q)
    s = torch.tril(s) - 1e10 * (1 - torch.tril(torch.ones(3, 3)))
    z = torch.einsum("biph,biqp->biqh", v, F.softmax(s / np.sqrt(D // HEADS), -1))
    z = z.permute(0, 2, 1, 3).reshape(len(pairs), 3, -1)
    r = e + torch.einsum("df,bqf->bqd", sd["blocks.0.attn.W_O"], z)
    h = F.relu(torch.einsum("md,bpd->bpm", sd["blocks.0.mlp.W_in"], r) + sd["blocks.0.mlp.b_in"])
    r = r + torch.einsum("dm,bpm->bpd", sd["blocks.0.mlp.W_out"], h) + sd["blocks.0.mlp.b_out"]
    logits = (r @ sd["unembed.W_U"])[:, -1]
    lp = F.log_softmax(logits.float(), -1)
    return float(-lp.gather(1, ((a + b) % P)[:, None]).mean())


def to_lens(sd, v_out):
    """A HookedTransformer state dict of the same function (TransformerLens's layouts)."""
    dh = D // HEADS
    t = {"embed.W_E": sd["embed.W_E"].T.contiguous(), "pos_embed.W_pos": sd["pos_embed.W_pos"].clone()}
    for n in "QKV":
        t[f"blocks.0.attn.W_{n}"] = sd[f"blocks.0.attn.W_{n}"].transpose(1, 2).contiguous()
        t[f"blocks.0.attn.b_{n}"] = torch.zeros(HEADS, dh)
    t["blocks.0.attn.W_O"] = sd["blocks.0.attn.W_O"].T.reshape(HEADS, dh, D).contiguous()
    t["blocks.0.attn.b_O"] = torch.zeros(D)
    t["blocks.0.attn.mask"] = torch.tril(torch.ones(3, 3)).bool()
    t["blocks.0.attn.IGNORE"] = torch.tensor(-1e5)
    t["blocks.0.mlp.W_in"] = sd["blocks.0.mlp.W_in"].T.contiguous()
    t["blocks.0.mlp.b_in"] = sd["blocks.0.mlp.b_in"].clone()
    t["blocks.0.mlp.W_out"] = sd["blocks.0.mlp.W_out"].T.contiguous()
    t["blocks.0.mlp.b_out"] = sd["blocks.0.mlp.b_out"].clone()
    t["unembed.W_U"] = sd["unembed.W_U"][:, :v_out].contiguous()
    t["unembed.b_U"] = torch.zeros(v_out)
    return t


def evaluate(path):
    return json.loads(run_bilmod("evaluate", path).stdout)


def main():
    failures = Failures()
    with tempdir() as d:
        run_bilmod("train", "--model", "transformer", "--mod-basis", P, "--d-model", D, "--num-heads", HEADS,
                   "--d-mlp", M, "--train-frac", 0.3, "--full-batch", "--learning-rate", 1e-3, "--weight-decay", 1,
                   "--epochs", 5, "--checkpoint-dir", d, "--no-progress", "--no-track")
        tensors, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_5.safetensors"))
        sd = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith(("optimizer.", "data."))}
        train = [int(x) for x in tensors["data.train_indices"]]
        val = [int(x) for x in tensors["data.val_indices"]]
        want_train, want_val = torch_loss(sd, train), torch_loss(sd, val)

        # evaluate --output streams all P + 1 logits of every pair (the '=' column too), row i for pair_index[i].
        out = os.path.join(d, "logits.safetensors")
        run_bilmod("evaluate", os.path.join(d, "checkpoint_epoch_5.safetensors"), "--output", out)
        saved, _ = read_safetensors(out)
        logits = torch.from_numpy(np.array(saved["logits"]))
        failures.check(tuple(logits.shape) == (P * P, P + 1),
                       f"evaluate --output: logits {tuple(logits.shape)}, want ({P * P}, {P + 1})")
        if tuple(logits.shape) == (P * P, P + 1):
            row = {int(p): i for i, p in enumerate(saved["pair_index"])}
            lp = F.log_softmax(logits[[row[i] for i in train]].float(), -1)
            labels = torch.tensor([(i // P + i % P) % P for i in train])
            from_file = float(-lp.gather(1, labels[:, None]).mean())
            diff = abs(from_file - want_train) / want_train
            failures.check(diff < 1e-5, f"evaluate --output: train loss from the file's logits {from_file:.6f} vs "
                                        f"PyTorch {want_train:.6f} (relative {diff:.2g})")

        paper = os.path.join(d, "init.pth")
        torch.save({"model": sd, "epoch": 5, "train_data": [(i // P, i % P, P) for i in train],
                    "test_data": [(i // P, i % P, P) for i in val]}, paper)
        got = evaluate(paper)
        for split, want in (("train", want_train), ("val", want_val)):
            diff = abs(got[f"{split}/loss"] - want) / want
            failures.check(diff < 1e-5, f"paper's dict: {split} loss {got[split + '/loss']:.6f} vs PyTorch {want:.6f} "
                                        f"(relative {diff:.2g})")
        failures.check(got["epoch"] == 5, f"paper's dict: epoch {got['epoch']}")

        # analyze and visualize-checkpoint read the same file: the paper's split, its losses, its own measures.
        report = json.loads(run_bilmod("analyze", paper, "--json").stdout)
        failures.check(report["model"] == "transformer" and report["mod_basis"] == P and report["split_known"],
                       f"analyze reads the paper's dict as a transformer with its split: {report['model']}, "
                       f"P {report['mod_basis']}, split known {report['split_known']}")
        for split, want in (("train", want_train), ("val", want_val)):
            diff = abs(report[split]["loss"] - want) / want
            failures.check(diff < 1e-5, f"analyze, paper's dict: {split} loss {report[split]['loss']:.6f} vs PyTorch "
                                        f"{want:.6f} (relative {diff:.2g})")
        heads = report["transformer"]["attention_of_equals"]
        failures.check(len(heads) == HEADS and all(abs(h["a"] + h["b"] + h["equals"] - 1) < 1e-6 for h in heads),
                       f"analyze: '=' attention of each of {HEADS} heads sums to 1 over a, b, '=': {heads}")
        failures.check(len(report["transformer"]["neurons"]) == M, "analyze: one best frequency per MLP neuron")
        if shutil.which("gnuplot") is None:
            skipping.skipped("visualize-checkpoint of the paper's dict: gnuplot is not installed")
        else:
            vis = os.path.join(d, "vis")
            run_bilmod("visualize-checkpoint", paper, "--output-dir", vis)
            failures.check(os.path.exists(os.path.join(vis, "index.html")),
                           "visualize-checkpoint draws the paper's dict (index.html written)")

        lens = os.path.join(d, "lens.pth")
        torch.save(to_lens(sd, P + 1), lens)
        got = evaluate(lens)
        everything = torch_loss(sd, train + val)
        diff = abs(got["train/loss"] - everything) / everything
        failures.check(diff < 1e-5, f"TransformerLens state dict: loss over every pair {got['train/loss']:.6f} vs "
                                    f"PyTorch {everything:.6f} (relative {diff:.2g})")

        with tempdir() as d2:
            run_bilmod("train", "--model", "transformer", "--mod-basis", P, "--d-model", D, "--num-heads", HEADS,
                       "--d-mlp", M, "--epochs", 0, "--init-from", lens, "--checkpoint-dir", d2, "--no-progress",
                       "--no-track")
            start, _ = read_safetensors(os.path.join(d2, "checkpoint_epoch_0.safetensors"))
            same = all(np.array_equal(start[k], tensors[k]) for k in sd)
            failures.check(same, "--init-from a TransformerLens file: the epoch-0 parameters are exactly its own")

        bad = to_lens(sd, P + 1)
        bad["blocks.0.attn.b_Q"][1, 2] = 0.5
        torch.save(bad, lens)
        proc = run_bilmod("evaluate", lens, expect=1)
        lines = proc.stderr.strip().splitlines()
        failures.check(len(lines) == 1 and "b_Q" in lines[0] and "not zero" in lines[0],
                       f"a nonzero TransformerLens bias is refused in one line: {proc.stderr.strip()!r}")
    if skipping.exit_code(0) != 0:  # a part was skipped: say so in ctest rather than pass
        print(f"{failures.checks - failures.count} passed, {failures.count} failed")
        sys.exit(1 if failures.count else skipping.exit_code(0))
    failures.finish()


if __name__ == "__main__":
    main()
