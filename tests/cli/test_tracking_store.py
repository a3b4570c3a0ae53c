"""bilmod train's tracking store, checked against docs/FORMATS.md field by field and read back as trackio reads it
(Python's sqlite3); bilmod runs / runs export on it and on a store written the way trackio writes; resume
continuity; unusable stores refused before training."""
import csv
import io
import json
import math
import os
import shutil
import sqlite3
import subprocess
import uuid

from tracking_helpers import skipping  # noqa: F401 (tests/skipping.py)
from tracking_helpers import (HEX32, RUN_NAME, SMALL, TIMESTAMP, Checks, bilmod, checkpoint_metadata, connect,
                              documented_schema, normalise_sql, trackio_metrics)

PROJECT = "tracking-test"
STEPS_PER_EPOCH = 4  # 423 training pairs of P = 23 at batch 128
EPOCHS = 3


def train(tmp, name, *extra, epochs=EPOCHS, project=PROJECT, check=True):
    return bilmod("train", *SMALL, "--epochs", str(epochs), "--checkpoint-dir", os.path.join(tmp, name, "ck"),
                  "--tracking-dir", os.path.join(tmp, name, "td"), "--project", project, *extra, check=check)


def db_path(tmp, name, project=PROJECT):
    return os.path.join(tmp, name, "td", project + ".db")


def test_schema_is_formats_md(tmp):
    train(tmp, "schema")
    ours = connect(db_path(tmp, "schema"))
    documented = documented_schema()
    # The same statements, run by Python as trackio runs them, give the reference database.
    reference = sqlite3.connect(":memory:")
    for statement in documented:
        reference.execute(statement)
    query = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    want = {(t, n, tb, normalise_sql(s)) for t, n, tb, s in reference.execute(query)}
    got = {(r[0], r[1], r[2], normalise_sql(r[3])) for r in ours.execute(query)}
    assert got == want, f"schema differs from docs/FORMATS.md:\n missing {want - got}\n extra {got - want}"
    for table in ("metrics", "configs", "system_metrics"):
        want_columns = list(reference.execute(f"PRAGMA table_info({table})"))
        got_columns = [tuple(r) for r in ours.execute(f"PRAGMA table_info({table})")]
        assert got_columns == want_columns, f"{table}: {got_columns} != {want_columns}"
    assert ours.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert os.path.exists(os.path.join(tmp, "schema", "td", PROJECT + ".lock")), "no lock file beside the database"


def test_rows_follow_formats_md(tmp):
    train(tmp, "rows", "--group", "sweep-a")
    conn = connect(db_path(tmp, "rows"))
    rows = conn.execute("SELECT * FROM metrics ORDER BY id").fetchall()
    run_ids = {r["run_id"] for r in rows}
    names = {r["run_name"] for r in rows}
    assert len(run_ids) == 1 and HEX32.match(next(iter(run_ids))), run_ids
    assert len(names) == 1 and RUN_NAME.match(next(iter(names))), names
    log_ids = [r["log_id"] for r in rows]
    assert all(HEX32.match(i) for i in log_ids) and len(set(log_ids)) == len(log_ids), "log ids: 32 hex, unique"
    assert all(r["space_id"] is None for r in rows)
    for r in rows:
        assert TIMESTAMP.match(r["timestamp"]), r["timestamp"]
        assert isinstance(r["step"], int)
        assert isinstance(json.loads(r["metrics"]), dict)
    batch = [r for r in rows if "train/batch_loss" in json.loads(r["metrics"])]
    epochs = [r for r in rows if "epoch" in json.loads(r["metrics"])]
    steps = [r["step"] for r in batch]
    assert steps == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1)), f"one batch row per step, got steps {steps}"
    for r in batch:
        m = trackio_metrics(r["metrics"])
        assert set(m) == {"train/batch_loss"} and math.isfinite(m["train/batch_loss"]), m
    assert [trackio_metrics(r["metrics"])["epoch"] for r in epochs] == list(range(EPOCHS + 1))
    assert [r["step"] for r in epochs] == [e * STEPS_PER_EPOCH for e in range(EPOCHS + 1)]
    for r in epochs[1:]:
        keys = set(trackio_metrics(r["metrics"]))
        want = {"epoch", "train/epoch_loss", "train/loss", "train/accuracy", "val/loss", "val/accuracy", "lr",
                "grad_norm", "weight_norm",
                # the measures of docs/MODELS.md "Interventions and measures" (a factored model)
                "softmax_collapse", "fourier_ipr", "weight_norm/left.weight", "weight_norm/right.weight",
                "weight_norm/output.weight"}
        assert keys == want, f"epoch row keys {sorted(keys)}, want {sorted(want)}"
    config_rows = conn.execute("SELECT * FROM configs").fetchall()
    assert len(config_rows) == 1
    c = config_rows[0]
    assert c["run_id"] in run_ids and c["run_name"] in names and TIMESTAMP.match(c["created_at"])
    config = json.loads(c["config"])
    assert config["_Group"] == "sweep-a" and TIMESTAMP.match(config["_Created"]) and isinstance(config["_Username"], str)
    for key in ("mod_basis", "hidden_dim", "batch_size", "learning_rate", "weight_decay", "epochs", "model", "seed",
                "project", "tracking_dir"):
        assert key in config, f"config row lacks {key}"
    assert config["mod_basis"] == 23 and config["model"] == "factored"
    assert not [k for k in config if k.startswith("_") and k not in ("_Username", "_Created", "_Group")]
    # The checkpoints carry the same run id and name.
    meta = checkpoint_metadata(os.path.join(tmp, "rows", "ck", "checkpoint_epoch_0.safetensors"))
    assert meta["run_id"] == c["run_id"] and meta["run_name"] == c["run_name"], (meta["run_id"], meta["run_name"])


def test_group_is_null_without_flag_and_names_are_unique(tmp):
    for _ in range(3):
        train(tmp, "names", epochs=1)
    conn = connect(db_path(tmp, "names"))
    configs = [json.loads(r["config"]) for r in conn.execute("SELECT config FROM configs")]
    assert all(c["_Group"] is None for c in configs)
    names = [r[0] for r in conn.execute("SELECT run_name FROM configs")]
    assert len(set(names)) == 3, names
    assert sorted(int(n.rsplit("-", 1)[1]) for n in names) == [1, 2, 3], names


def test_runs_and_export_round_trip(tmp):
    train(tmp, "export", "--run-name", "my-run")
    td = os.path.join(tmp, "export", "td")
    projects = bilmod("runs", "--tracking-dir", td).stdout
    assert PROJECT in projects, projects
    table = bilmod("runs", "--tracking-dir", td, "--project", PROJECT).stdout.splitlines()
    header = table[1].split()
    row = dict(zip(header, table[2].split()))
    assert row["name"] == "my-run" and row["model"] == "factored" and row["P"] == "23", row
    assert row["epochs"] == str(EPOCHS)
    conn = connect(db_path(tmp, "export"))
    last = trackio_metrics(conn.execute("SELECT metrics FROM metrics WHERE metrics LIKE '%\"epoch\"%' "
                                        "ORDER BY step DESC LIMIT 1").fetchone()[0])
    assert abs(float(row["val_acc"]) - last["val/accuracy"]) <= 0.0005, (row["val_acc"], last["val/accuracy"])
    # Export: one record per step holding every metric of that step, values identical to the store's.
    stored = {}
    for r in conn.execute("SELECT step, metrics FROM metrics ORDER BY id"):
        stored.setdefault(r["step"], {}).update(trackio_metrics(r["metrics"]))
    text = bilmod("runs", "export", "my-run", "--format", "csv", "--tracking-dir", td, "--project", PROJECT).stdout
    records = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["step"]) for r in records] == sorted(stored), "one CSV row per step"
    worst = 0.0
    for r in records:
        for key, value in stored[int(r["step"])].items():
            got = float(r[key])
            worst = max(worst, abs(got - value))
    assert worst == 0.0, f"CSV values differ from the store by up to {worst}"
    jsonl = bilmod("runs", "export", "my-run", "--format", "jsonl", "--tracking-dir", td, "--project", PROJECT).stdout
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert len(lines) == len(stored)
    for line in lines:
        for key, value in stored[line["step"]].items():
            assert line[key] == value, (line["step"], key, line[key], value)
    bad = bilmod("runs", "export", "no-such-run", "--format", "csv", "--tracking-dir", td, "--project", PROJECT,
                 check=False)
    assert bad.returncode == 1 and "no run 'no-such-run'" in bad.stderr, bad.stderr
    bad = bilmod("runs", "export", "my-run", "--format", "xml", "--tracking-dir", td, "--project", PROJECT, check=False)
    assert bad.returncode == 2, bad.stderr


def test_reads_a_store_trackio_wrote(tmp):
    """A project made the way trackio makes it (its schema, Python's json, a seed-style config without 'model')."""
    td = os.path.join(tmp, "trackio", "td")
    os.makedirs(td)
    conn = sqlite3.connect(os.path.join(td, "seed.db"))
    for statement in documented_schema():
        conn.execute(statement)
    run_id = uuid.uuid4().hex
    config = {"mod_basis": 113, "hidden_dim": 100, "epochs": 3, "_Username": "someone",
              "_Created": "2026-01-02T03:04:05.000001+00:00", "_Group": None}
    conn.execute("INSERT INTO configs (run_id, run_name, config, created_at) VALUES (?, ?, ?, ?)",
                 (run_id, "dainty-sunset-1", json.dumps(config), "2026-01-02T03:04:05.000001+00:00"))
    accuracies = [0.01, 0.5, 0.995, 1.0]
    for epoch, acc in enumerate(accuracies):
        metrics = {"epoch": epoch, "train/accuracy": 1.0, "val/accuracy": acc, "train/loss": "NaN" if epoch == 1 else 0.1}
        conn.execute("INSERT INTO metrics (run_id, timestamp, run_name, step, metrics, log_id) VALUES (?,?,?,?,?,?)",
                     (run_id, f"2026-01-02T03:0{4 + epoch}:05.000001+00:00", "dainty-sunset-1", epoch * 10,
                      json.dumps(metrics), uuid.uuid4().hex))
    conn.commit()
    conn.close()
    table = bilmod("runs", "--tracking-dir", td, "--project", "seed").stdout.splitlines()
    row = dict(zip(table[1].split(), table[2].split()))
    assert row["name"] == "dainty-sunset-1" and row["P"] == "113" and row["model"] == "-", row
    assert row["val_acc>=0.99_epoch"] == "2", f"first epoch with val accuracy >= 0.99 is 2: {table[2]}"
    assert row["wall_time"] == "0:03:00", row
    text = bilmod("runs", "export", "dainty-sunset-1", "--format", "csv", "--tracking-dir", td, "--project",
                  "seed").stdout
    records = list(csv.DictReader(io.StringIO(text)))
    assert records[1]["train/loss"] == "NaN" and math.isnan(float(records[1]["train/loss"])), records[1]
    # bilmod reading the store never changed it.
    check = sqlite3.connect(os.path.join(td, "seed.db"))
    assert check.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == len(accuracies)


def test_a_hostile_store_is_read_without_crashing(tmp):
    """A store from elsewhere is input like any file: a metrics row and a config nested 200,000 levels deep (copying or
    printing such a value recursed once per level and overflowed the stack) are read as unusable, and the rest of the
    run is listed and exported."""
    td = os.path.join(tmp, "trackio", "hostile")
    os.makedirs(td)
    conn = sqlite3.connect(os.path.join(td, "h.db"))
    for statement in documented_schema():
        conn.execute(statement)
    run_id, deep = uuid.uuid4().hex, "[" * 200000 + "]" * 200000
    conn.execute("INSERT INTO configs (run_id, run_name, config, created_at) VALUES (?, ?, ?, ?)",
                 (run_id, "deep-run-1", '{"mod_basis": ' + deep + "}", "2026-01-02T03:04:05.000001+00:00"))
    for step, text in enumerate(['{"epoch": 0, "val/accuracy": 0.5}', '{"epoch": 1, "val/accuracy": ' + deep + "}",
                                 '{"epoch": 2, "val/accuracy": 0.75}']):
        conn.execute("INSERT INTO metrics (run_id, timestamp, run_name, step, metrics, log_id) VALUES (?,?,?,?,?,?)",
                     (run_id, f"2026-01-02T03:0{4 + step}:05.000001+00:00", "deep-run-1", step, text, uuid.uuid4().hex))
    conn.commit()
    conn.close()
    table = bilmod("runs", "--tracking-dir", td, "--project", "h").stdout.splitlines()
    assert len(table) == 3 and "deep-run-1" in table[2], table
    text = bilmod("runs", "export", "deep-run-1", "--format", "csv", "--tracking-dir", td, "--project", "h").stdout
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r.get("val/accuracy") for r in records] == ["0.5", "", "0.75"], records


def test_resume_continues_the_run_without_duplicate_or_missing_steps(tmp):
    """A run 'interrupted' after epoch 4 with its last checkpoint at epoch 2: the resume redoes epochs 3-4."""
    train(tmp, "resume", "--checkpoint-every", "2", "--run-name", "resumed-run", epochs=4)
    ck = os.path.join(tmp, "resume", "ck")
    os.remove(os.path.join(ck, "checkpoint_epoch_4.safetensors"))
    conn = connect(db_path(tmp, "resume"))
    before = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    assert before == 4 * STEPS_PER_EPOCH + 5, before
    conn.close()
    bilmod("train", *SMALL, "--resume-from", os.path.join(ck, "checkpoint_epoch_2.safetensors"), "--epochs", "6",
           "--checkpoint-dir", ck, "--tracking-dir", os.path.join(tmp, "resume", "td"))
    conn = connect(db_path(tmp, "resume"))
    rows = conn.execute("SELECT run_id, run_name, step, metrics FROM metrics ORDER BY step, id").fetchall()
    assert len({r["run_id"] for r in rows}) == 1 and {r["run_name"] for r in rows} == {"resumed-run"}
    batch_steps = [r["step"] for r in rows if "train/batch_loss" in r["metrics"]]
    assert batch_steps == list(range(1, 6 * STEPS_PER_EPOCH + 1)), f"steps after resume: {batch_steps}"
    epochs = [trackio_metrics(r["metrics"])["epoch"] for r in rows if '"epoch"' in r["metrics"]]
    assert epochs == list(range(7)), f"epoch rows after resume: {epochs}"
    assert conn.execute("SELECT COUNT(*) FROM configs").fetchone()[0] == 1


def test_unusable_stores_stop_the_run_before_training(tmp):
    base = os.path.join(tmp, "bad")
    os.makedirs(base)
    # A file where the tracking folder should be.
    blocker = os.path.join(base, "file")
    open(blocker, "w").write("x")
    r = bilmod("train", *SMALL, "--epochs", "1", "--checkpoint-dir", os.path.join(base, "ck1"), "--tracking-dir",
               os.path.join(blocker, "td"), check=False)
    assert r.returncode == 1 and "tracking folder" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(base, "ck1", "checkpoint_epoch_0.safetensors")), "trained anyway"
    # A project file that is not SQLite: refused, and left exactly as it was.
    td = os.path.join(base, "td")
    os.makedirs(td)
    junk = b"not a database\n" * 100
    open(os.path.join(td, PROJECT + ".db"), "wb").write(junk)
    r = bilmod("train", *SMALL, "--epochs", "1", "--checkpoint-dir", os.path.join(base, "ck2"), "--tracking-dir", td,
               "--project", PROJECT, check=False)
    assert r.returncode == 1 and "not a SQLite database" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, f"one clear line, got:\n{r.stderr}"
    assert open(os.path.join(td, PROJECT + ".db"), "rb").read() == junk
    assert not os.path.exists(os.path.join(base, "ck2", "checkpoint_epoch_0.safetensors"))
    # A SQLite file whose metrics table is not trackio's.
    conn = sqlite3.connect(os.path.join(td, "other.db"))
    conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, value REAL)")
    conn.commit()
    conn.close()
    r = bilmod("train", *SMALL, "--epochs", "1", "--checkpoint-dir", os.path.join(base, "ck3"), "--tracking-dir", td,
               "--project", "other", check=False)
    assert r.returncode == 1 and "has no column" in r.stderr, r.stderr
    r = bilmod("runs", "--tracking-dir", td, "--project", "other", check=False)
    assert r.returncode == 1 and "has no column" in r.stderr, r.stderr
    # --no-track needs no store at all.
    r = bilmod("train", *SMALL, "--epochs", "1", "--checkpoint-dir", os.path.join(base, "ck4"), "--tracking-dir",
               os.path.join(blocker, "td"), "--no-track")
    assert os.path.exists(os.path.join(base, "ck4", "checkpoint_epoch_1.safetensors"))


def test_a_full_disk_mid_run_does_not_stop_training(tmp):
    """The store fills up during the run (a 600 KiB tmpfs): training goes on to its last checkpoint, the failure is
    logged once, the rows are retried, and the end says how many could not be written. Needs root to mount."""
    mnt = os.path.join(tmp, "small-disk")
    os.makedirs(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", mnt], capture_output=True).returncode != 0:
        skipping.skipped("cannot mount a small tmpfs here (needs root); the full-disk check did not run")
        return
    try:
        r = bilmod("train", *SMALL[:-2], "--log-level", "INFO", "--batch-size", "1", "--epochs", "8", "--checkpoint-dir",
                   os.path.join(tmp, "full-ck"), "--tracking-dir", mnt)
        assert os.path.exists(os.path.join(tmp, "full-ck", "checkpoint_epoch_8.safetensors")), "training stopped"
        assert r.stderr.count("tracking store write failed") == 1, r.stderr[-3000:]
        assert "disk is full" in r.stderr and "tracking rows could not be written" in r.stderr, r.stderr[-3000:]
        conn = connect(os.path.join(mnt, "bilinear-modular-arithmetic.db"))
        stored = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
        lost = int(r.stderr.split(" tracking rows could not be written")[0].split()[-1])
        assert stored + lost == 8 * 423 + 9, f"{stored} stored + {lost} reported lost != {8 * 423 + 9} logged"
        conn.close()
    finally:
        subprocess.run(["umount", mnt], capture_output=True)


if __name__ == "__main__":
    checks = Checks()
    for test in (test_schema_is_formats_md, test_rows_follow_formats_md, test_group_is_null_without_flag_and_names_are_unique,
                 test_runs_and_export_round_trip, test_reads_a_store_trackio_wrote, test_a_hostile_store_is_read_without_crashing,
                 test_resume_continues_the_run_without_duplicate_or_missing_steps,
                 test_unusable_stores_stop_the_run_before_training, test_a_full_disk_mid_run_does_not_stop_training):
        checks.run(test)
    shutil.rmtree(checks.tmp, ignore_errors=True)
    checks.finish()
