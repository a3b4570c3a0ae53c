#!/usr/bin/env python3
"""Regenerates the seed corpus (fuzz/corpus/<target>/) from real files written by a built bilmod.

    BILMOD=build-rel/bilmod python3 fuzz/make_corpus.py
    /usr/bin/python3 fuzz/make_corpus.py torch_archive   # corpus/torch_archive and torch_checkpoint's torch.save
                                                         # files: needs Debian's python3-torch, not bilmod

Small models (P <= 7, H <= 4) keep each file a few kilobytes, so that libFuzzer's mutations land on structure
rather than on long runs of float data. Run it again whenever the checkpoint format changes."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
BILMOD = os.environ.get("BILMOD", os.path.join(ROOT, "..", "build-rel", "bilmod"))

# (name, train flags): every model, both optimisers, the schedules, accumulation and a non-trivial operation.
RUNS = [
    ("bilinear_adamw", ["--mod-basis", "7", "--hidden-dim", "4", "--epochs", "2"]),
    ("factored_sgd", ["--model", "factored", "--optimizer", "sgd", "--momentum", "0.9", "--mod-basis", "5",
                      "--hidden-dim", "3", "--epochs", "1"]),
    ("mlp_quad_cosine", ["--model", "mlp", "--activation", "quad", "--lr-schedule", "cosine", "--warmup-steps", "2",
                         "--mod-basis", "7", "--hidden-dim", "4", "--epochs", "2", "--batch-size", "8"]),
    ("div_accum", ["--operation", "div", "--mod-basis", "5", "--hidden-dim", "2", "--epochs", "1", "--batch-size", "4",
                   "--grad-accum-steps", "2"]),
    ("sub_full_batch", ["--operation", "sub", "--mod-basis", "3", "--hidden-dim", "2", "--epochs", "1",
                        "--full-batch", "--train-frac", "0.5"]),
]


def header(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n])


def write_all_dtypes(path):
    """A container holding one tensor of every dtype, with metadata (not a checkpoint)."""
    dtypes = [("F32", 4), ("F64", 8), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4), ("I16", 2), ("I8", 1),
              ("U8", 1), ("BOOL", 1)]
    head, data = {"__metadata__": {"k": "v"}}, b""
    for i, (dtype, size) in enumerate(dtypes):
        shape = [2, 1] if i % 2 else [2]
        n = 2 * size
        head[f"t{i}"] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += bytes(range(i, i + n))
    head["empty"] = {"dtype": "F32", "shape": [0, 3], "data_offsets": [len(data), len(data)]}
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)


def main():
    corpus = {t: os.path.join(ROOT, "corpus", t) for t in ("checkpoint", "safetensors", "run_config")}
    for d in corpus.values():
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in RUNS:
            out = os.path.join(tmp, name)
            subprocess.run([BILMOD, "train", *flags, "--checkpoint-dir", out, "--no-track", "--no-progress",
                            "--log-level", "ERROR"], check=True)
            files = sorted(os.listdir(out))
            for f in (files[0], files[-1]):  # the initial state and the last
                src = os.path.join(out, f)
                shutil.copy(src, os.path.join(corpus["checkpoint"], f"{name}_{f}"))
            config = header(os.path.join(out, files[-1]))["__metadata__"]["config"]
            open(os.path.join(corpus["run_config"], f"{name}.json"), "w").write(config)
        shutil.copy(os.path.join(corpus["checkpoint"], "bilinear_adamw_checkpoint_epoch_2.safetensors"),
                    os.path.join(corpus["safetensors"], "checkpoint.safetensors"))
        subprocess.run([BILMOD, "dataset", "--mod-basis", "5", "--operation", "mul", "--train-frac", "0.5",
                        "--seed", "1", "--output", os.path.join(corpus["safetensors"], "dataset.safetensors")],
                       check=True, stdout=subprocess.DEVNULL)
        write_all_dtypes(os.path.join(corpus["safetensors"], "all_dtypes.safetensors"))
    open(os.path.join(corpus["run_config"], "defaults.json"), "w").write("{}")
    for t, d in corpus.items():
        print(f"{t}: {len(os.listdir(d))} files, {sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))} bytes")


def torch_files(d):
    """Small torch.save files of every kind bilmod reads: the seed's run (model, AdamW's state after two steps, its
    split), a factored state dict under torch.compile's prefix, Nanda et al.'s transformer with its init.pth split,
    TransformerLens's state dict with its zero biases."""
    import torch
    torch.manual_seed(0)
    P, H = 5, 3
    seed = {"bilinear.weight": torch.randn(H, P, P), "bilinear.bias": torch.randn(H), "output.weight": torch.randn(P, H),
            "output.bias": torch.randn(P)}
    params = [torch.nn.Parameter(t.clone()) for t in seed.values()]
    opt = torch.optim.AdamW(params, lr=2e-3, betas=(0.85, 0.97), weight_decay=0.3)
    for _ in range(2):
        opt.zero_grad()
        sum((q * q).sum() for q in params).backward()
        opt.step()
    perm = torch.randperm(P * P)
    torch.save({"model_state_dict": {k: q.detach() for k, q in zip(seed, params)}, "optimizer_state_dict": opt.state_dict(),
                "config": {"mod_basis": P, "hidden_dim": H, "seed": 3}, "epoch": 1, "train_indices": perm[:20],
                "val_indices": perm[20:]}, os.path.join(d, "seed_run.pt"))
    torch.save({f"_orig_mod.{k}": torch.randn(*s) for k, s in
                [("left.weight", (H, 2 * P)), ("right.weight", (H, 2 * P)), ("output.weight", (P, H))]},
               os.path.join(d, "factored_compiled.pt"))
    d_model, heads, m, v = 4, 2, 8, P + 1
    dh = d_model // heads
    paper = {"embed.W_E": (d_model, v), "pos_embed.W_pos": (3, d_model), "blocks.0.attn.W_K": (heads, dh, d_model),
             "blocks.0.attn.W_Q": (heads, dh, d_model), "blocks.0.attn.W_V": (heads, dh, d_model),
             "blocks.0.attn.W_O": (d_model, d_model), "blocks.0.mlp.W_in": (m, d_model), "blocks.0.mlp.b_in": (m,),
             "blocks.0.mlp.W_out": (d_model, m), "blocks.0.mlp.b_out": (d_model,), "unembed.W_U": (d_model, v)}
    pairs = [(a, b, P) for a in range(P) for b in range(P)]
    torch.save({"model": {k: torch.randn(*s) for k, s in paper.items()}, "epoch": 4, "train_data": pairs[:15],
                "test_data": pairs[15:]}, os.path.join(d, "nanda_transformer.pt"))
    lens = {"embed.W_E": (v, d_model), "pos_embed.W_pos": (3, d_model), "blocks.0.attn.W_K": (heads, d_model, dh),
            "blocks.0.attn.W_Q": (heads, d_model, dh), "blocks.0.attn.W_V": (heads, d_model, dh),
            "blocks.0.attn.W_O": (heads, dh, d_model), "blocks.0.attn.b_Q": (heads, dh), "blocks.0.attn.b_K": (heads, dh),
            "blocks.0.attn.b_V": (heads, dh), "blocks.0.attn.b_O": (d_model,), "blocks.0.mlp.W_in": (d_model, m),
            "blocks.0.mlp.b_in": (m,), "blocks.0.mlp.W_out": (m, d_model), "blocks.0.mlp.b_out": (d_model,),
            "unembed.W_U": (d_model, P), "unembed.b_U": (P,)}
    torch.save({k: (torch.zeros(*s) if ".b_" in k and "mlp" not in k else torch.randn(*s)) for k, s in lens.items()},
               os.path.join(d, "lens_transformer.pt"))


def archive_container(pt_path):
    """A torch.save zip as fuzz_torch_archive's input: { u8 name length, name, u32 data length, data } per entry."""
    import zipfile
    out = b""
    with zipfile.ZipFile(pt_path) as z:
        for info in z.infolist():
            name, data = info.filename.encode(), z.read(info)
            out += bytes([len(name)]) + name + struct.pack("<I", len(data)) + data
    return out


def torch_archive_corpus():
    d = os.path.join(ROOT, "corpus", "torch_archive")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with tempfile.TemporaryDirectory() as tmp:
        torch_files(tmp)
        for f in sorted(os.listdir(tmp)):
            open(os.path.join(d, f[:-3] + ".bin"), "wb").write(archive_container(os.path.join(tmp, f)))
            shutil.copy(os.path.join(tmp, f), os.path.join(ROOT, "corpus", "torch_checkpoint", f))  # the zip as it is
    print(f"torch_archive: {len(os.listdir(d))} files")


if __name__ == "__main__":
    if sys.argv[1:] == ["torch_archive"]:
        sys.exit(torch_archive_corpus())
    sys.exit(main())
