"""The end-to-end tests' checklist: each check prints one line (ok or FAIL with what differed), failures are
counted, and finish() exits non-zero if any failed or none ran, so one run reports every mismatch, not just the
first."""
import os
import sys

import numpy as np

BILMOD = os.environ.get("BILMOD", "build/bilmod")
FAILURES = []
CHECKED = 0


def check(name, ok, detail=""):
    global CHECKED
    CHECKED += 1
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok else "  " + detail))
    if not ok:
        FAILURES.append(name)


def close(name, got, want, rtol=1e-6, atol=1e-9):
    """got ~ want elementwise (|got - want| <= atol + rtol |want|); a failure prints the largest difference."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape:
        check(name, False, f"shape {got.shape} vs reference {want.shape}")
        return
    diff = np.abs(got - want)
    worst = float(diff.max()) if diff.size else 0.0
    ok = bool(np.all(diff <= atol + rtol * np.abs(want)))
    check(name, ok, f"largest difference {worst:.3g} (bilmod {got.ravel()[:4]} reference {want.ravel()[:4]})")


def finish():
    if CHECKED == 0:
        print("FAILED: no check ran")
        sys.exit(1)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
