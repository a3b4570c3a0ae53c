"""The bad-input table (issue 6): bad command lines and bad files, each answered with one clear line on stderr,
the documented exit code (2: a usage error, before any work; 1: a file or run-time failure), and nothing on disk
changed (the working folder, with its checkpoints and tracking store, is snapshotted before and after each)."""
import os
import shutil
import sqlite3
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from reliability_common import BILMOD, Failures, snapshot, snapshot_diff, tempdir  # noqa: E402

TINY = ["--mod-basis", "7", "--hidden-dim", "4", "--epochs", "1", "--no-progress"]

# (what, argv after `bilmod`, exit code, words the one error line must hold (case-insensitive)).
USAGE = [
    # Every train flag out of range, of the wrong type, or contradicting another.
    ("P below range", ["train", "--mod-basis", "1"], ["--mod-basis", "2 to 46340"]),
    ("P above range", ["train", "--mod-basis", "46341"], ["--mod-basis", "46340"]),
    ("P not a number", ["train", "--mod-basis", "abc"], ["--mod-basis", "abc"]),
    ("P fractional", ["train", "--mod-basis", "7.5"], ["--mod-basis", "7.5"]),
    ("P missing its value", ["train", "--mod-basis"], ["--mod-basis"]),
    ("H zero", ["train", "--hidden-dim", "0"], ["--hidden-dim", "at least 1"]),
    ("H negative", ["train", "--hidden-dim", "-3"], ["--hidden-dim"]),
    ("batch zero", ["train", "--batch-size", "0"], ["--batch-size", "at least 1"]),
    ("batch not a number", ["train", "--batch-size", "x"], ["--batch-size"]),
    ("lr zero", ["train", "--learning-rate", "0"], ["--learning-rate", "positive"]),
    ("lr negative", ["train", "--learning-rate", "-1"], ["--learning-rate"]),
    ("lr NaN", ["train", "--learning-rate", "nan"], ["--learning-rate"]),
    ("lr infinite", ["train", "--learning-rate", "inf"], ["--learning-rate"]),
    ("lr not a number", ["train", "--learning-rate", "fast"], ["--learning-rate"]),
    ("weight decay negative", ["train", "--weight-decay", "-0.1"], ["--weight-decay"]),
    ("epochs negative", ["train", "--epochs", "-1"], ["--epochs", ">= 0"]),
    ("epochs fractional", ["train", "--epochs", "2.5"], ["--epochs"]),
    ("accumulation zero", ["train", "--grad-accum-steps", "0"], ["--grad-accum-steps"]),
    ("full batch with accumulation", ["train", "--full-batch", "--grad-accum-steps", "2"], ["--full-batch", "--grad-accum-steps"]),
    ("checkpoint-every negative", ["train", "--checkpoint-every", "-1"], ["--checkpoint-every"]),
    ("eval-every zero", ["train", "--eval-every", "0"], ["--eval-every"]),
    ("train-frac zero", ["train", "--train-frac", "0"], ["--train-frac"]),
    ("train-frac one", ["train", "--train-frac", "1"], ["--train-frac"]),
    ("train-frac above one", ["train", "--train-frac", "1.5"], ["--train-frac"]),
    ("train-frac leaves no train pair", ["train", "--mod-basis", "7", "--train-frac", "0.001"], ["--train-frac", "empty"]),
    ("unknown operation", ["train", "--operation", "pow"], ["--operation", "pow"]),
    ("div with composite P", ["train", "--operation", "div", "--mod-basis", "8"], ["div", "prime"]),
    ("unknown model", ["train", "--model", "lstm"], ["--model", "lstm"]),
    ("mlp kind for a model without one", ["train", "--mlp", "gelu"], ["--mlp", "transformer"]),
    ("activation for a model without one", ["train", "--activation", "quad"], ["--activation", "mlp"]),
    ("unknown activation", ["train", "--model", "mlp", "--activation", "tanh"], ["--activation", "tanh"]),
    ("unknown optimizer", ["train", "--optimizer", "adam"], ["--optimizer", "adam"]),
    ("beta1 one", ["train", "--beta1", "1"], ["--beta1"]),
    ("beta2 negative", ["train", "--beta2", "-0.1"], ["--beta2"]),
    ("eps zero", ["train", "--eps", "0"], ["--eps"]),
    ("momentum negative", ["train", "--momentum", "-1"], ["--momentum"]),
    ("warmup negative", ["train", "--warmup-steps", "-5"], ["--warmup-steps"]),
    ("unknown schedule", ["train", "--lr-schedule", "linear"], ["--lr-schedule", "linear"]),
    # Every setting that holds a name is parsed as the command line is read, with the message naming the choices.
    ("unknown split", ["train", "--split", "random"], ["--split 'random' is not known: use bilmod"]),
    ("unknown loss", ["train", "--loss", "hinge"], ["--loss 'hinge' is not known: use cross_entropy, stablemax or mse"]),
    ("unknown loss precision", ["train", "--loss-precision", "float16"],
     ["--loss-precision 'float16' is not known: use float32 or float64"]),
    ("unknown gradient filter", ["train", "--grokfast", "fft"], ["--grokfast 'fft' is not known: use none, ema or ma"]),
    ("init scale zero", ["train", "--init-scale", "0"], ["--init-scale", "positive finite"]),
    ("init scale negative", ["train", "--init-scale", "-2"], ["--init-scale", "positive finite"]),
    ("init scale NaN", ["train", "--init-scale", "nan"], ["--init-scale"]),
    ("init scale infinite", ["train", "--init-scale", "inf"], ["--init-scale"]),
    ("unknown warmup convention", ["train", "--warmup-convention", "keras"],
     ["--warmup-convention 'keras' is not known: use bilmod or lambdalr"]),
    ("unknown mlp", ["train", "--model", "transformer", "--mlp", "swiglu"], ["--mlp 'swiglu' is not known"]),
    ("dataset with an unknown operation", ["dataset", "--operation", "pow", "--output", "d.safetensors"],
     ["bilmod dataset: error: --operation 'pow' is not known"]),
    ("threads negative", ["train", "--threads", "-1"], ["--threads"]),
    ("unknown log level", ["train", "--log-level", "LOUD"], ["--log-level", "LOUD"]),
    ("project with a slash", ["train", "--project", "a/b"], ["--project"]),
    ("empty checkpoint dir", ["train", "--checkpoint-dir", ""], ["--checkpoint-dir"]),
    ("seed negative", ["train", "--seed", "-1"], ["--seed"]),
    ("unknown flag", ["train", "--no-such-flag"], ["--no-such-flag"]),
    ("stray positional", ["train", "extra"], ["extra"]),
    ("no command", [], ["subcommand"]),
    ("unknown command", ["frobnicate"], ["subcommand"]),
    ("flag given twice", ["train", "--mod-basis", "7", "--mod-basis", "11"], ["--mod-basis"]),
    ("dataset seed negative", ["dataset", "--seed", "-1", "--output", "d.safetensors"], ["--seed"]),
    # Resuming with flags that contradict the checkpoint.
    ("resume with another model", ["train", "--resume-from", "good", "--model", "factored"], ["--model", "contradicts"]),
    ("resume with another P", ["train", "--resume-from", "good", "--mod-basis", "11"], ["--mod-basis", "contradicts"]),
    ("resume to fewer epochs", ["train", "--resume-from", "good", "--epochs", "0"], ["--epochs", "less than"]),
    ("resume with another optimizer", ["train", "--resume-from", "good", "--optimizer", "sgd"], ["--optimizer"]),
    # The other commands.
    ("dataset without --output", ["dataset", "--mod-basis", "7"], ["--output"]),
    ("dataset P below range", ["dataset", "--mod-basis", "1", "--output", "d.safetensors"], ["--mod-basis"]),
    ("evaluate without a checkpoint", ["evaluate"], ["checkpoint"]),
]

RUNTIME = [
    ("resume from a missing file", ["train", "--resume-from", "nope.safetensors"], ["nope.safetensors"]),
    ("resume from a folder without checkpoints", ["train", "--resume-from", "empty"], ["empty", "no checkpoint"]),
    ("resume from an empty file", ["train", "--resume-from", "files/empty.safetensors"], ["empty.safetensors", "8-byte"]),
    ("resume from a text file", ["train", "--resume-from", "files/notes.txt"], ["notes.txt", "safetensors"]),
    ("resume from a truncated checkpoint", ["train", "--resume-from", "files/truncated.safetensors"], ["truncated"]),
    ("resume from a corrupt checkpoint", ["train", "--resume-from", "files/flipped.safetensors"], ["checksum"]),
    ("resume from a data set file", ["train", "--resume-from", "files/dataset.safetensors"], ["not a bilmod checkpoint"]),
    ("resume from a folder whose latest is bad", ["train", "--resume-from", "badlatest"], ["checkpoint_epoch_9"]),
    ("init from a missing file", ["train", *TINY, "--init-from", "nope.safetensors", "--checkpoint-dir", "out"],
     ["nope.safetensors"]),
    ("init from a folder", ["train", *TINY, "--init-from", "good", "--checkpoint-dir", "out"], ["good"]),
    ("init from another model's checkpoint", ["train", *TINY[4:], "--mod-basis", "7", "--hidden-dim", "5", "--init-from",
                                              "good/checkpoint_epoch_1.safetensors", "--checkpoint-dir", "out"], ["shape"]),
    ("init from a file that is not safetensors", ["train", *TINY, "--init-from", "files/notes.txt", "--checkpoint-dir", "out"],
     ["notes.txt"]),
    ("checkpoint dir is a file", ["train", *TINY, "--checkpoint-dir", "files/notes.txt"], ["not a folder"]),
    ("checkpoint dir under a file", ["train", *TINY, "--checkpoint-dir", "files/notes.txt/sub"], ["--checkpoint-dir"]),
    ("log file is a folder", ["train", *TINY, "--log-file", "empty", "--checkpoint-dir", "out"], ["empty"]),
    ("evaluate a missing file", ["evaluate", "nope.safetensors"], ["nope.safetensors"]),
    ("evaluate a folder without checkpoints", ["evaluate", "empty"], ["empty"]),
    ("evaluate a corrupt checkpoint", ["evaluate", "files/flipped.safetensors"], ["checksum"]),
    ("dataset into a folder", ["dataset", "--mod-basis", "7", "--output", "empty"], ["empty"]),
    # Tracking stores that are not trackio's.
    ("tracking db that is not SQLite", ["train", *TINY, "--tracking-dir", "store-garbage", "--project", "p",
                                        "--checkpoint-dir", "out"], ["p.db"]),
    ("tracking db of another schema", ["train", *TINY, "--tracking-dir", "store-foreign", "--project", "p",
                                       "--checkpoint-dir", "out"], ["p.db"]),
    ("tracking dir that is a file", ["train", *TINY, "--tracking-dir", "files/notes.txt", "--checkpoint-dir", "out"],
     ["notes.txt"]),
]


def make_fixtures(root):
    """The working folder every case runs in: good and bad checkpoints, files, and tracking stores."""
    env = dict(os.environ, TRACKIO_DIR=os.path.join(root, "trackio"), HOME=root)
    subprocess.run([BILMOD, "train", *TINY, "--checkpoint-dir", os.path.join(root, "good"), "--no-track"],
                   check=True, capture_output=True, env=env)
    os.makedirs(os.path.join(root, "empty"))
    files = os.path.join(root, "files")
    os.makedirs(files)
    good = open(os.path.join(root, "good", "checkpoint_epoch_1.safetensors"), "rb").read()
    open(os.path.join(files, "empty.safetensors"), "wb").close()
    open(os.path.join(files, "notes.txt"), "w").write("not a checkpoint\n")
    open(os.path.join(files, "truncated.safetensors"), "wb").write(good[:len(good) // 2])
    flipped = bytearray(good)
    flipped[-3] ^= 0x10
    open(os.path.join(files, "flipped.safetensors"), "wb").write(bytes(flipped))
    subprocess.run([BILMOD, "dataset", "--mod-basis", "5", "--output", os.path.join(files, "dataset.safetensors")],
                   check=True, capture_output=True)
    bad_latest = os.path.join(root, "badlatest")
    os.makedirs(bad_latest)
    shutil.copy(os.path.join(root, "good", "checkpoint_epoch_1.safetensors"), bad_latest)
    open(os.path.join(bad_latest, "checkpoint_epoch_9.safetensors"), "wb").write(good[:100])
    for name in ("store-garbage", "store-foreign", "store-empty"):
        os.makedirs(os.path.join(root, name))
    open(os.path.join(root, "store-garbage", "p.db"), "wb").write(b"this is not an SQLite database" * 100)
    con = sqlite3.connect(os.path.join(root, "store-foreign", "p.db"))
    con.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, value REAL)")
    con.execute("INSERT INTO metrics (value) VALUES (1.5)")
    con.commit()
    con.close()
    open(os.path.join(root, "store-empty", "p.db"), "wb").close()
    return env


def main():
    failures = Failures()
    tried = 0
    with tempdir() as root:
        env = make_fixtures(root)
        for table, expected in ((USAGE, 2), (RUNTIME, 1)):
            for what, argv, words in table:
                before = snapshot(root)
                try:
                    # Every case must fail at once: one that starts training instead is stopped and fails.
                    p = subprocess.run([BILMOD, *argv], capture_output=True, text=True, cwd=root, env=env, timeout=60)
                except subprocess.TimeoutExpired as e:
                    p = subprocess.CompletedProcess(e.cmd, "timeout", "", "it ran for 60 s instead of failing\n")
                tried += 1
                lines = [l for l in p.stderr.splitlines() if l.strip()]
                line = lines[0] if lines else ""
                missing = [w for w in words if w.lower() not in line.lower()]
                # Taking trackio's lock (docs/FORMATS.md: writers flock {project}.lock beside the store) comes before
                # the schema can be read, so a refused store may gain its empty lock file, as with trackio.
                changes = [c for c in snapshot_diff(before, snapshot(root))
                           if not (c.startswith("new: store-") and c.endswith(".lock"))]
                ok = p.returncode == expected and len(lines) == 1 and "error" in line and not missing and not changes
                failures.check(ok, f"{what}: bilmod {' '.join(argv)} -> exit {p.returncode} (expected {expected}); "
                                   f"{len(lines)} line(s): {' | '.join(lines)[:400]}"
                                   + (f"; missing {missing}" if missing else "")
                                   + (f"; disk changed: {changes}" if changes else ""))
                # Whatever a failed case left must not spoil the next one.
                for leftover in ("out", "checkpoints"):
                    shutil.rmtree(os.path.join(root, leftover), ignore_errors=True)
        # An empty file is an empty SQLite database (SQLite's rule, and trackio's): not refused, but made a store.
        p = subprocess.run([BILMOD, "train", *TINY, "--tracking-dir", "store-empty", "--project", "p", "--checkpoint-dir",
                            "out"], capture_output=True, text=True, cwd=root, env=env, timeout=300)
        tried += 1
        tables = set()
        if p.returncode == 0:
            con = sqlite3.connect(os.path.join(root, "store-empty", "p.db"))
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            con.close()
        failures.check(p.returncode == 0 and {"metrics", "configs", "system_metrics"} <= tables,
                       f"an empty tracking db becomes a trackio store (exit {p.returncode}, tables {sorted(tables)})")
    print(f"inputs tried: {tried} bad command lines and files")
    failures.check(tried >= 40, f"at least 40 bad inputs ({tried})")
    failures.finish()


if __name__ == "__main__":
    main()
