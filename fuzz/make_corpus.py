#!/usr/bin/env python3
"""Regenerates the seed corpus (fuzz/corpus/<target>/) from real files written by a built bilmod.

    BILMOD=build-rel/bilmod python3 fuzz/make_corpus.py

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


if __name__ == "__main__":
    sys.exit(main())
