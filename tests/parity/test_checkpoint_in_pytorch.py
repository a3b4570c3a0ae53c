"""A bilmod checkpoint is a PyTorch state dict: its model tensors load into the reference module with
load_state_dict(strict=True), and the module's logits there equal bilmod's own (`bilmod evaluate --output`) on every pair.
Also: `bilmod dataset` writes exactly the split a run of the same seed trains on."""
import os

import numpy as np
import torch

from bilmod_reference import (Failures, make_model, model_tensors, read_safetensors, run_bilmod, split, tempdir)

torch.set_num_threads(1)


def main():
    failures = Failures()
    for kind, p, h, activation in [("bilinear", 13, 8, "relu"), ("factored", 29, 16, "relu"), ("mlp", 23, 12, "quad")]:
        with tempdir() as d:
            run_bilmod("train", "--model", kind, "--mod-basis", p, "--hidden-dim", h, "--activation", activation,
                       "--epochs", 5, "--batch-size", 64, "--train-frac", 0.5, "--checkpoint-dir", d, "--no-progress",
                       "--no-track", "--threads", 1)
            tensors, meta = read_safetensors(os.path.join(d, "checkpoint_epoch_5.safetensors"))
            module = make_model(kind, p, h, activation)
            try:
                module.load_state_dict(model_tensors(tensors), strict=True)
                loaded = True
            except RuntimeError as e:
                print(e)
                loaded = False
            failures.check(loaded, f"{kind}: checkpoint loads with load_state_dict(strict=True)")
            logits_file = os.path.join(d, "logits.safetensors")
            run_bilmod("evaluate", os.path.join(d, "checkpoint_epoch_5.safetensors"), "--output", logits_file)
            ours, _ = read_safetensors(logits_file)
            pairs = torch.from_numpy(ours["pair_index"])
            with torch.no_grad():
                theirs = module(pairs // p, pairs % p).numpy()
            diff = float(np.max(np.abs(ours["logits"] - theirs)))
            scale = float(np.max(np.abs(theirs)))
            failures.check(diff <= 1e-5 * max(scale, 1.0),
                           f"{kind}: logits on all {len(pairs)} pairs, largest difference {diff:.3g} (scale {scale:.3g})")
            for key in ("format", "format_version", "config", "epoch", "step", "run_id", "run_name", "metrics",
                        "bilmod_version"):
                failures.check(key in meta, f"{kind}: metadata has '{key}'")
            failures.check(meta.get("format") == "bilmod-checkpoint" and meta.get("epoch") == "5",
                           f"{kind}: metadata format {meta.get('format')!r}, epoch {meta.get('epoch')!r}")

    # The split: bilmod dataset, a training run's checkpoint, and docs/MODELS.md's recipe computed here all agree.
    with tempdir() as d:
        out = os.path.join(d, "data.safetensors")
        run_bilmod("dataset", "--mod-basis", 113, "--operation", "add", "--train-frac", 0.3, "--seed", 7, "--output", out)
        data, _ = read_safetensors(out)
        run_bilmod("train", "--model", "factored", "--epochs", 0, "--train-frac", 0.3, "--seed", 7,
                   "--checkpoint-dir", d, "--no-progress", "--no-track")
        ckpt, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
        train, val = split(113, 0.3, 7)
        failures.check(len(data["data.train_indices"]) == 3830, f"30% of 12769 pairs is {len(data['data.train_indices'])} train pairs (floor: 3830)")
        failures.check(np.array_equal(data["data.train_indices"], ckpt["data.train_indices"]) and
                       np.array_equal(data["data.val_indices"], ckpt["data.val_indices"]),
                       "bilmod dataset writes the split training uses")
        failures.check(list(data["data.train_indices"]) == train and list(data["data.val_indices"]) == val,
                       "the split follows docs/MODELS.md's recipe (recomputed in Python)")
        a, b, c = data["a"], data["b"], data["c"]
        failures.check(np.array_equal(c, (a + b) % 113) and np.array_equal(data["pair_index"], a * 113 + b),
                       "dataset table: c = (a + b) mod P, pair_index = a*P + b")
    failures.finish()


if __name__ == "__main__":
    main()
