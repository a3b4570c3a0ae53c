"""Shared by the tracking tests: run bilmod, read a tracking store the way trackio does (Python's sqlite3),
and report checks as 'N passed, M failed' with a non-zero exit on any failure."""
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import skipping  # noqa: E402,F401 (tests/skipping.py, for the tests that import this module)

BILMOD = os.environ.get("BILMOD", "")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORMATS_MD = os.path.join(REPO, "docs", "FORMATS.md")

# A small, fast problem: P = 23 has 529 pairs, 423 of them for training, 4 steps an epoch at batch 128.
SMALL = ["--mod-basis", "23", "--model", "factored", "--hidden-dim", "16", "--threads", "1", "--no-progress",
         "--log-level", "WARNING"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
RUN_NAME = re.compile(r"^[a-z]+-[a-z]+-\d+$")


def bilmod(*args, check=True, env=None, timeout=600):
    if not BILMOD:
        sys.exit("BILMOD is not set: run through ctest, or set BILMOD=path/to/bilmod")
    result = subprocess.run([BILMOD, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"bilmod {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def connect(path):
    """Opens a store as trackio does: a plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


def trackio_metrics(text):
    """trackio's reading of a metrics cell: JSON, with "NaN"/"Infinity"/"-Infinity" strings as floats."""
    special = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
    return {k: special.get(v, v) if isinstance(v, str) else v for k, v in json.loads(text).items()}


def checkpoint_metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def documented_schema():
    """The CREATE statements of docs/FORMATS.md's "Tracking store" section, one per statement, whitespace folded."""
    text = open(FORMATS_MD).read()  # the repository's own document: a missing one is a failure, never a fallback
    section = text[text.index("## Tracking store"):]
    block = section[section.index("```sql") + len("```sql"):]
    block = block[:block.index("```")]
    statements = [" ".join(s.split()) for s in block.split(";") if s.strip()]
    assert len(statements) >= 3, f"{FORMATS_MD}: no CREATE statements under \"Tracking store\""
    return statements


def normalise_sql(sql):
    return " ".join(sql.replace("IF NOT EXISTS ", "").split())


class Checks:
    """Runs check functions, prints each outcome, ends with 'N passed, M failed' and the exit code."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.tmp = tempfile.mkdtemp(prefix="bilmod-tracking-")

    def run(self, function):
        try:
            function(self.tmp)
            self.passed += 1
            print(f"ok   {function.__name__}")
        except Exception:  # a failed check is reported, and the others still run
            self.failed += 1
            print(f"FAIL {function.__name__}")
            traceback.print_exc()
        sys.stdout.flush()

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        if self.passed + self.failed == 0:
            print("FAILED: no check ran")
            sys.exit(1)
        sys.exit(skipping.exit_code(1 if self.failed else 0))
