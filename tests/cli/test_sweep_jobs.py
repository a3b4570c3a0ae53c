"""bilmod sweep --jobs 2 gives, run for run, what `bilmod train` gives for that configuration alone: the same
final metrics (bit for bit), the same epochs of first reaching 0.99; the summary's CSV and JSON agree, every run
appears once, and the phase diagram's cells are the means of the summary's rows."""
import csv
import glob
import json
import os
import shutil

from sweep_testlib import BILMOD, TINY, check_complete, checkpoint_metadata, fail, run, summary, sweep, tempdir


def evaluations(log_path):
    """Every epoch's metrics from a --log-level DEBUG --log-file log: {epoch: metrics}."""
    per_epoch = {}
    with open(log_path) as f:
        for line in f:
            fields = json.loads(line).get("fields", {})
            if "epoch" in fields and "val/accuracy" in fields:
                per_epoch[fields["epoch"]] = fields
    return per_epoch


def first_epoch(per_epoch, key, threshold=0.99):
    reached = [e for e, m in sorted(per_epoch.items()) if m[key] >= threshold]
    return reached[0] if reached else None


def main():
    work = tempdir()
    out = os.path.join(work, "sweep")
    sweep(out, "--jobs", "2")
    rows = summary(out)["runs"]
    expected = [f"weight-decay={wd}_train-frac={tf}_seed={s}" for wd in ("0.3", "1") for tf in ("0.4", "0.7") for s in (0, 1)]
    check_complete(rows, expected)
    if [r["index"] for r in rows] != list(range(8)):
        fail("summary rows are not in the sweep's order")

    grokked = 0
    for r in rows:
        alone = os.path.join(work, "alone", r["run"])
        os.makedirs(alone)
        log = os.path.join(alone, "log.jsonl")
        run([BILMOD, "train", *TINY, "--weight-decay", str(r["weight_decay"]), "--train-frac", str(r["train_frac"]),
             "--seed", str(r["seed"]), "--threads", "1", "--no-track", "--no-progress", "--checkpoint-dir", alone,
             "--log-level", "DEBUG", "--log-file", log])
        final = checkpoint_metadata(os.path.join(alone, "checkpoint_epoch_150.safetensors"))
        metrics = json.loads(final["metrics"])
        for column, key in (("train_loss", "train/loss"), ("train_accuracy", "train/accuracy"), ("val_loss", "val/loss"),
                            ("val_accuracy", "val/accuracy"), ("weight_norm", "weight_norm")):
            if r[column] != metrics[key]:
                fail(f"{r['run']}: sweep {column} {r[column]!r} != train alone {metrics[key]!r}")
        per_epoch = evaluations(log)
        for column, key in (("val_acc_0.99_epoch", "val/accuracy"), ("train_acc_0.99_epoch", "train/accuracy")):
            if r[column] != first_epoch(per_epoch, key):
                fail(f"{r['run']}: sweep {column} {r[column]} != {first_epoch(per_epoch, key)} from the run alone")
        if r["epochs"] != 150 or r["steps"] != int(final["step"]):
            fail(f"{r['run']}: epochs/steps {r['epochs']}/{r['steps']} != 150/{final['step']}")
        grokked += r["val_acc_0.99_epoch"] is not None
    if grokked == 0 or grokked == len(rows):
        fail(f"{grokked} of {len(rows)} runs grokked: the grid no longer separates the phases, so the test shows little")

    # The CSV says what the JSON says.
    with open(os.path.join(out, "summary.csv")) as f:
        csv_rows = list(csv.DictReader(f))
    for c, r in zip(csv_rows, rows):
        for key, value in r.items():
            text = "" if value is None else (json.dumps(value) if not isinstance(value, str) else value)
            if c[key] != text:
                fail(f"summary.csv {r['run']} {key}: {c[key]!r} != summary.json {text!r}")

    # Phase diagram: weight decay on x, train fraction on y; each cell the mean grok epoch of its two seeds.
    for name in ("phase_diagram.png", "phase_diagram.svg", "phase_diagram.dat", "phase_diagram.gp"):
        if not os.path.getsize(os.path.join(out, name)):
            fail(f"{name} is empty")
    with open(os.path.join(out, "phase_diagram.dat")) as f:
        cells = [line.split() for line in f if line.strip() and not line.startswith("#")]
    for cell in cells:
        wd, tf, value = float(cell[2]), float(cell[3]), cell[4]
        epochs = [r["val_acc_0.99_epoch"] for r in rows if r["weight_decay"] == wd and r["train_frac"] == tf]
        reached = [e for e in epochs if e is not None]
        want = sum(reached) / len(reached) if reached else None
        got = None if value == "NaN" else float(value)
        if (want is None) != (got is None) or (want is not None and abs(got - want) > 1e-6):
            fail(f"phase cell wd={wd} tf={tf}: {got} != mean of {epochs}")

    # Run again: everything is finished, nothing is trained (no result file rewritten), the summary is the same.
    results = sorted(glob.glob(os.path.join(out, "*", "result.json")))
    stamps = [os.stat(p).st_mtime_ns for p in results]
    again = sweep(out, "--jobs", "2")
    if [os.stat(p).st_mtime_ns for p in results] != stamps:
        fail("a re-run of a finished sweep trained again")
    if summary(out)["runs"] != rows:
        fail("a re-run of a finished sweep changed its summary")
    if "8 runs finished" not in again.stderr:
        fail(f"re-run did not report the finished sweep: {again.stderr}")
    shutil.rmtree(work)
    print("OK: --jobs 2 matches each run alone; csv == json; phase cells; finished sweep not re-run")


if __name__ == "__main__":
    main()
