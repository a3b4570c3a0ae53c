"""The optimiser's two paths give the same run, bit for bit: training with the reference (BILMOD_OPTIMIZER=reference:
torch's formula, one element at a time, every parameter every step) and with the fast path (vector lanes, lazy rows
for the seed model's bilinear.weight, subnormal detours) at one and two threads writes identical checkpoints. Covers
the lazy rows through mini-batches, accumulation, a mid-epoch stop and resume, and evaluation between steps."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import BILMOD, Failures, read_safetensors, run_bilmod, tempdir  # noqa: E402


def train(d, path, *extra):
    env = dict(os.environ, BILMOD_OPTIMIZER=path)
    run_bilmod("train", "--checkpoint-dir", d, "--no-progress", "--no-track", *extra, env=env)


def checkpoints(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))


def differing(d1, d2):
    """Checkpoint files whose tensors, step or metrics differ in any bit, and files only one folder has."""
    names1, names2 = checkpoints(d1), checkpoints(d2)
    out = sorted(set(names1) ^ set(names2))
    for name in sorted(set(names1) & set(names2)):
        x, mx = read_safetensors(os.path.join(d1, name))
        y, my = read_safetensors(os.path.join(d2, name))
        keys = set(x) | set(y)
        if any(k not in x or k not in y or x[k].tobytes() != y[k].tobytes() for k in keys) or \
                mx["step"] != my["step"] or mx["metrics"] != my["metrics"]:
            out.append(name)
    return out, len(names1)


def main():
    failures = Failures()
    runs = {
        # The seed model: lazy rows of bilinear.weight on the fast path.
        "bilinear, batches of 32 with 2 accumulation steps": [
            "--model", "bilinear", "--mod-basis", 31, "--hidden-dim", 24, "--batch-size", 32, "--grad-accum-steps", 2,
            "--train-frac", 0.5, "--epochs", 12, "--checkpoint-every", 5, "--eval-every", 3],
        "bilinear, full batch, no bias": [
            "--model", "bilinear", "--mod-basis", 23, "--hidden-dim", 37, "--no-bias", "--full-batch", "--epochs", 20,
            "--checkpoint-every", 10],
        # Dense fast steps, large enough to split across threads.
        "factored, batches of 128": [
            "--model", "factored", "--mod-basis", 61, "--hidden-dim", 48, "--batch-size", 128, "--train-frac", 0.5,
            "--epochs", 4, "--checkpoint-every", 2],
        "mlp quad, full batch": [
            "--model", "mlp", "--activation", "quad", "--mod-basis", 41, "--hidden-dim", 40, "--full-batch",
            "--epochs", 30, "--checkpoint-every", 15],
    }
    for what, flags in runs.items():
        with tempdir() as ref, tempdir() as one, tempdir() as two:
            train(ref, "reference", *flags, "--threads", 1)
            train(one, "fast", *flags, "--threads", 1)
            train(two, "fast", *flags, "--threads", 2)
            for d, label in ((one, "1 thread"), (two, "2 threads")):
                diff, count = differing(ref, d)
                failures.check(count >= 2 and not diff,
                               f"{what}: fast path ({label}) == reference over {count} checkpoints (differing: {diff})")

    # Stopped inside an epoch (SIGINT after the first steps), the lazy rows are synced into the checkpoint the stop
    # writes; resumed, the run ends where an uninterrupted reference run ends.
    # 705 steps an epoch: the stop lands well inside epoch 1 however far the run gets before the signal arrives.
    flags = ["--model", "bilinear", "--mod-basis", 97, "--hidden-dim", 32, "--batch-size", 8, "--train-frac", 0.6,
             "--epochs", 3, "--checkpoint-every", 3, "--eval-every", 3]
    with tempdir() as ref, tempdir() as stopped:
        train(ref, "reference", *flags, "--threads", 1)
        env = dict(os.environ, BILMOD_OPTIMIZER="fast")
        proc = subprocess.Popen([BILMOD, "train", "--checkpoint-dir", stopped, "--no-progress", "--no-track", "--log-level",
                                 "debug", *map(str, flags)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        for line in proc.stderr:  # one line per step at debug level: stop once some steps are done
            if " step=800 " in line:  # epoch 1, 95 steps into it
                proc.send_signal(signal.SIGINT)
                break
        proc.stderr.read()
        code = proc.wait()
        mid = [f for f in checkpoints(stopped) if f != "checkpoint_epoch_0.safetensors"]
        failures.check(code == 130 and len(mid) == 1, f"SIGINT mid-run: exit 130 with one checkpoint (exit {code}, {mid})")
        if mid:
            _, meta = read_safetensors(os.path.join(stopped, mid[0]))
            failures.check(meta.get("epoch_step", "0") != "0",
                           f"the stop's checkpoint is inside an epoch (epoch_step {meta.get('epoch_step')})")
        train(stopped, "fast", "--resume-from", stopped, "--threads", 2)
        last = "checkpoint_epoch_3.safetensors"
        x, _ = read_safetensors(os.path.join(ref, last))
        y, _ = read_safetensors(os.path.join(stopped, last))
        diff = sorted(k for k in set(x) | set(y) if k not in x or k not in y or x[k].tobytes() != y[k].tobytes())
        failures.check(not diff, f"stopped mid-epoch and resumed on the fast path == reference run (differing: {diff})")
    failures.finish()


if __name__ == "__main__":
    main()
