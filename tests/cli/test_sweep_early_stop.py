"""--stop-at-val-acc X --patience E ends a run at the first epoch where validation accuracy has been >= X for E
evaluations in a row, with that epoch's metrics and a checkpoint; a run that never gets there trains to the end.
The expected epoch is computed from the same configuration trained alone, epoch by epoch."""
import json
import os

from sweep_testlib import BILMOD, TINY, fail, run, summary, tempdir, without


def main():
    work = tempdir()
    out = os.path.join(work, "sweep")
    fixed = without(TINY, "--epochs") + ["--epochs", "150", "--weight-decay", "1"]
    run([BILMOD, "sweep", "--grid", "train-frac=0.4,0.7", "--seeds", "0-1", *fixed, "--stop-at-val-acc", "0.9",
         "--patience", "3", "--no-track", "--jobs", "2", "--output-dir", out])
    stopped = 0
    for r in summary(out)["runs"]:
        alone = os.path.join(work, "alone", r["run"])
        os.makedirs(alone)
        log = os.path.join(alone, "log.jsonl")
        run([BILMOD, "train", *fixed, "--train-frac", str(r["train_frac"]), "--seed", str(r["seed"]), "--threads", "1",
             "--no-track", "--no-progress", "--checkpoint-dir", alone, "--log-level", "DEBUG", "--log-file", log])
        per_epoch = {}
        with open(log) as f:
            for line in f:
                fields = json.loads(line).get("fields", {})
                if "epoch" in fields and "val/accuracy" in fields:
                    per_epoch[fields["epoch"]] = fields
        expected = None
        for e in range(3, 151):
            if all(per_epoch[k]["val/accuracy"] >= 0.9 for k in (e - 2, e - 1, e)):
                expected = e
                break
        if expected is None:
            if r["epochs"] != 150 or r["stopped_early"]:
                fail(f"{r['run']} never reached 0.9 yet stopped at {r['epochs']}")
            continue
        stopped += 1
        if r["epochs"] != expected or not r["stopped_early"]:
            fail(f"{r['run']}: stopped at epoch {r['epochs']} (early={r['stopped_early']}), expected {expected}")
        if r["val_accuracy"] != per_epoch[expected]["val/accuracy"] or r["train_loss"] != per_epoch[expected]["train/loss"]:
            fail(f"{r['run']}: final metrics are not those of epoch {expected}")
        if not os.path.exists(os.path.join(out, r["run"], "checkpoints", f"checkpoint_epoch_{expected}.safetensors")):
            fail(f"{r['run']}: no checkpoint at the epoch it stopped")
    if stopped == 0:
        fail("no run stopped early: the grid no longer reaches the threshold, so the test shows nothing")
    print(f"OK: {stopped} runs stopped at the computed epoch, the others trained to the end")


if __name__ == "__main__":
    main()
