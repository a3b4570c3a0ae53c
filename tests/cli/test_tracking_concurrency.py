"""A sweep writing one project at once: 4 bilmod processes, thousands of rows each, into one tracking store.
Every row must be there afterwards and no process may fail with "database is locked"; a reader (as trackio's
dashboard would be) polls the store throughout."""
import os
import shutil
import sqlite3
import subprocess
import time

from tracking_helpers import BILMOD, SMALL, Checks, connect

PROCESSES = 4
EPOCHS = 5
STEPS_PER_EPOCH = 423  # every training pair of P = 23 its own step at batch size 1


def test_concurrent_writers_lose_no_row(tmp):
    td = os.path.join(tmp, "td")
    procs = []
    for i in range(PROCESSES):
        procs.append(subprocess.Popen(
            [BILMOD, "train", *SMALL, "--batch-size", "1", "--epochs", str(EPOCHS), "--seed", str(i),
             "--checkpoint-dir", os.path.join(tmp, f"ck{i}"), "--tracking-dir", td, "--project", "sweep",
             "--run-name", f"worker-{i}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    # Read while they write, as a dashboard would: a reader must never see a half-written batch or an error.
    reads = 0
    while any(p.poll() is None for p in procs):
        if os.path.exists(os.path.join(td, "sweep.db")):
            conn = sqlite3.connect(os.path.join(td, "sweep.db"), timeout=30)
            try:
                conn.execute("SELECT run_id, COUNT(*) FROM metrics GROUP BY run_id").fetchall()
                reads += 1
            except sqlite3.OperationalError as error:
                if "no such table" not in str(error):  # the moment before the first writer creates it
                    raise
            conn.close()
        time.sleep(0.05)
    for i, p in enumerate(procs):
        out, err = p.communicate()
        assert p.returncode == 0, f"worker {i} exited {p.returncode}:\n{err}"
        assert "locked" not in err, f"worker {i}: {err}"
    conn = connect(os.path.join(td, "sweep.db"))
    want = EPOCHS * STEPS_PER_EPOCH
    worst = 0
    for i in range(PROCESSES):
        steps = [r[0] for r in conn.execute(
            "SELECT step FROM metrics WHERE run_name = ? AND metrics LIKE '%batch_loss%' ORDER BY step", (f"worker-{i}",))]
        missing = set(range(1, want + 1)) - set(steps)
        worst = max(worst, len(missing), len(steps) - len(set(steps)))
        assert steps == list(range(1, want + 1)), (
            f"worker-{i}: {len(steps)} batch rows, {len(missing)} steps missing, {len(steps) - len(set(steps))} doubled")
        epochs = conn.execute("SELECT COUNT(*) FROM metrics WHERE run_name = ? AND metrics LIKE '%\"epoch\"%'",
                              (f"worker-{i}",)).fetchone()[0]
        assert epochs == EPOCHS + 1, f"worker-{i}: {epochs} epoch rows"
    assert conn.execute("SELECT COUNT(DISTINCT run_id) FROM metrics").fetchone()[0] == PROCESSES
    print(f"  {PROCESSES} writers x {want} steps, all present; {reads} reads during the writes")


if __name__ == "__main__":
    checks = Checks()
    checks.run(test_concurrent_writers_lose_no_row)
    shutil.rmtree(checks.tmp, ignore_errors=True)
    checks.finish()
