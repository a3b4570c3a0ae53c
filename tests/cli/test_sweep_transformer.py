"""A sweep takes the transformer like any other model: a grid over its --mlp (relu, bilinear) and two seeds finishes
every run, records the setting in its summary, and each run's last checkpoint holds bitwise the tensors that
`bilmod train` writes for the same settings alone."""
import os
import struct

from sweep_testlib import BILMOD, check_complete, fail, run, summary, tempdir

SHAPE = ["--model", "transformer", "--mod-basis", "11", "--d-model", "16", "--num-heads", "2", "--d-mlp", "32",
         "--train-frac", "0.5", "--full-batch", "--learning-rate", "0.003", "--epochs", "12", "--checkpoint-every", "6"]


def tensor_bytes(path):
    """The tensors of a safetensors file: everything after its header (the metadata names the run and its folder)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n)
        return f.read()


def main():
    work = tempdir()
    out = os.path.join(work, "sweep")
    run([BILMOD, "sweep", "--grid", "mlp=relu,bilinear", "--seeds", "0-1", *SHAPE, "--no-track", "--jobs", "2",
         "--output-dir", out])
    rows = summary(out)["runs"]
    check_complete(rows, [f"mlp={m}_seed={s}" for m in ("relu", "bilinear") for s in (0, 1)])
    for r in rows:
        if r["epochs"] != 12:
            fail(f"{r['run']} trained {r['epochs']} epochs, not 12")
        alone = os.path.join(work, "alone", r["run"])
        run([BILMOD, "train", *SHAPE, "--mlp", r["mlp"], "--seed", str(r["seed"]), "--threads", "1", "--no-track",
             "--no-progress", "--checkpoint-dir", alone])
        swept = os.path.join(out, r["run"], "checkpoints", "checkpoint_epoch_12.safetensors")
        if not os.path.exists(swept):
            fail(f"{r['run']}: no checkpoint_epoch_12.safetensors in {os.path.dirname(swept)}")
        if tensor_bytes(swept) != tensor_bytes(os.path.join(alone, "checkpoint_epoch_12.safetensors")):
            fail(f"{r['run']}: the sweep's last checkpoint differs from the same run trained alone")
    print(f"ok: {len(rows)} transformer runs swept over --mlp, each bitwise the run trained alone")


if __name__ == "__main__":
    main()
