"""bilmod sweep's refusals and failures: usage errors are one line and exit 2 before any work (nothing written);
a run that fails is reported with its own error and does not stop the others (exit 1, the others finished);
a folder holding a sweep with other settings is refused rather than mixed."""
import os

from sweep_testlib import BILMOD, TINY, fail, run, summary, tempdir, without


def expect_usage(args, needle, work):
    out = os.path.join(work, "never")
    proc = run([BILMOD, "sweep", *args, "--no-track", "--output-dir", out], expect=2)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    if len(lines) != 1 or needle not in lines[0]:
        fail(f"{args}: expected one error line mentioning {needle!r}, got: {proc.stderr!r}")
    if os.path.exists(out):
        fail(f"{args}: a refused sweep wrote {out}")


def main():
    work = tempdir()
    expect_usage(["--grid", "weight-decay"], "NAME=V1,V2", work)
    expect_usage(["--grid", "no-such-flag=1,2"], "not a bilmod train setting", work)
    expect_usage(["--grid", "hidden-dim=1.5,2"], "--hidden-dim value '1.5' is not an integer", work)
    expect_usage(["--grid", "weight-decay=0.1,0.1"], "twice", work)
    expect_usage(["--grid", "weight-decay=0.1,1", "--weight-decay", "0.5"], "both swept", work)
    expect_usage(["--grid", "train-frac=0.5,1.5"], "--train-frac", work)
    expect_usage(["--seeds", "4-2"], "--seeds", work)
    expect_usage(["--patience", "3"], "--stop-at-val-acc", work)
    expect_usage(["--grid-file", os.path.join(work, "missing.json")], "cannot open for reading (No such file or directory)", work)
    # A grid file from elsewhere is input like any file: nested 200,000 deep it is one line (copying such a value
    # recursed once per level and overflowed the stack).
    deep = os.path.join(work, "deep.json")
    with open(deep, "w") as f:
        f.write('{"grid": {"learning-rate": ' + "[" * 200000 + "]" * 200000 + "}}")
    expect_usage(["--grid-file", deep], "nests deeper than 64 levels", work)

    # One run diverges (an absurd learning rate): it is reported, the other finishes, the sweep exits 1.
    out = os.path.join(work, "diverging")
    proc = run([BILMOD, "sweep", "--grid", "learning-rate=0.01,1e30", *without(without(TINY, "--learning-rate"), "--epochs"), "--epochs", "5", "--no-track", "--jobs", "2", "--output-dir", out], expect=1)
    rows = {r["learning_rate"]: r for r in summary(out)["runs"]}
    if rows[0.01]["status"] != "finished":
        fail(f"the healthy run did not finish: {rows[0.01]}")
    bad = rows[1e30]
    if bad["status"] != "failed" or "diverged" not in bad["message"]:
        fail(f"the diverging run is not reported as failed with its reason: {bad}")
    if "1 of 2 runs failed" not in proc.stderr:
        fail(f"the sweep's closing error does not count the failure: {proc.stderr}")

    # The same folder with other settings: refused, nothing overwritten.
    proc = run([BILMOD, "sweep", "--grid", "learning-rate=0.01,1e30", *without(without(TINY, "--learning-rate"), "--epochs"),
                "--epochs", "6", "--no-track",
                "--output-dir", out], expect=2)
    if "already holds run" not in proc.stderr:
        fail(f"a changed sweep in the same folder was not refused: {proc.stderr}")
    if summary(out)["runs"][0]["epochs"] != 5:
        fail("the refused sweep changed the folder")
    print("OK: usage errors, a failing run among healthy ones, a changed sweep refused")


if __name__ == "__main__":
    main()
