"""bilmod dashboard on a store with known runs: its JSON answers (including rows appended while it runs), its
refusal of paths outside the tracking folder and of writes, and the page itself in headless Chromium (Debian's
chromium): the runs are listed and each chart has one polyline per run with the right number of points. A
screenshot is kept beside the binary, in test-artifacts/. Without Chromium the browser part is skipped, saying so."""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid

from tracking_helpers import skipping  # noqa: F401 (tests/skipping.py)
from tracking_helpers import BILMOD, Checks, documented_schema

PROJECT = "dash-test"
RUNS = {"alpha-run-1": 5, "beta-run-2": 8}  # name -> epochs evaluated (plus epoch 0)
STEPS_PER_EPOCH = 3
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000"]


class Store:
    """A project written the way trackio writes one, with runs whose every row is known."""

    def __init__(self, td):
        self.path = os.path.join(td, PROJECT + ".db")
        self.ids = {}
        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in documented_schema():
            conn.execute(statement)
        for name, epochs in RUNS.items():
            run_id = uuid.uuid4().hex
            self.ids[name] = run_id
            conn.execute("INSERT INTO configs (run_id, run_name, config, created_at) VALUES (?,?,?,?)",
                         (run_id, name, json.dumps({"model": "factored", "mod_basis": 23, "epochs": epochs,
                                                    "_Group": None}), "2026-01-01T00:00:00.000000+00:00"))
            for epoch in range(epochs + 1):
                self.add(conn, run_id, name, epoch * STEPS_PER_EPOCH,
                         {"epoch": epoch, "val/accuracy": min(1.0, 0.01 + epoch / epochs), "val/loss": 5.0 / (1 + epoch)})
                if epoch < epochs:
                    for s in range(1, STEPS_PER_EPOCH + 1):
                        self.add(conn, run_id, name, epoch * STEPS_PER_EPOCH + s, {"train/batch_loss": 4.0 / (epoch + s)})
        conn.commit()
        conn.close()

    @staticmethod
    def add(conn, run_id, name, step, metrics):
        conn.execute("INSERT INTO metrics (run_id, timestamp, run_name, step, metrics, log_id) VALUES (?,?,?,?,?,?)",
                     (run_id, "2026-01-01T00:00:01.000000+00:00", name, step, json.dumps(metrics), uuid.uuid4().hex))

    def content(self):
        """What the store holds, whatever files SQLite keeps it in: a digest of every row."""
        conn = sqlite3.connect(self.path)
        digest = hashlib.sha256()
        for table in ("metrics", "configs", "system_metrics"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):
                digest.update(repr(row).encode())
        conn.close()
        return digest.hexdigest()


class Dashboard:
    def __init__(self, td):
        self.proc = subprocess.Popen([BILMOD, "dashboard", "--tracking-dir", td, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL on the dashboard's first line: {line!r} {self.proc.stderr.read() if not line else ''}"
        self.url = match.group(0)

    def get(self, path):
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as response:
            return response.status, response.read()

    def status_of(self, path, method="GET"):
        request = urllib.request.Request(self.url + path.lstrip("/"), method=method, data=b"x" if method != "GET" else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def setup(tmp):
    td = os.path.join(tmp, "td")
    os.makedirs(td, exist_ok=True)
    return td, Store(td)


def test_api_lists_runs_and_serves_new_rows(tmp):
    td, store = setup(tmp)
    before = store.content()
    dash = Dashboard(td)
    try:
        status, body = dash.get("/api/projects")
        projects = json.loads(body)["projects"]
        assert [p["name"] for p in projects] == [PROJECT] and projects[0]["runs"] == len(RUNS), projects
        runs = json.loads(dash.get(f"/api/runs?project={PROJECT}")[1])["runs"]
        assert sorted(r["name"] for r in runs) == sorted(RUNS), runs
        for r in runs:
            assert r["epochs_done"] == RUNS[r["name"]] and r["model"] == "factored" and r["mod_basis"] == 23, r
        run_id = store.ids["alpha-run-1"]
        first = json.loads(dash.get(f"/api/metrics?project={PROJECT}&run={run_id}&after=0")[1])
        want_rows = (RUNS["alpha-run-1"] + 1) + RUNS["alpha-run-1"] * STEPS_PER_EPOCH
        assert len(first["rows"]) == want_rows, (len(first["rows"]), want_rows)
        # A row written while the dashboard runs is served on the next poll, alone.
        conn = sqlite3.connect(store.path)
        Store.add(conn, run_id, "alpha-run-1", 999, {"train/batch_loss": 0.125})
        conn.commit()
        conn.close()
        before = store.content()
        new = json.loads(dash.get(f"/api/metrics?project={PROJECT}&run={run_id}&after={first['last_id']}")[1])
        assert new["rows"] == [[999, {"train/batch_loss": 0.125}]], new
        # Nothing outside the compiled-in pages and the store's JSON is reachable; nothing is written.
        assert dash.status_of("/../../etc/passwd") == 404
        assert dash.status_of("/%2e%2e/%2e%2e/etc/passwd") in (400, 404)
        assert dash.status_of("/etc/passwd") == 404
        assert dash.status_of(f"/api/runs?project=..%2F{PROJECT}") == 400
        assert dash.status_of(f"/api/metrics?project={PROJECT}&run={run_id}&after=-1") == 400
        assert dash.status_of("/api/runs?project=nope") == 404
        assert dash.status_of(f"/api/runs?project={PROJECT}", method="POST") in (404, 405)
        assert dash.status_of("/dashboard.js") == 200 and dash.status_of("/") == 200
        assert store.content() == before, "the dashboard changed the store"
    finally:
        dash.stop()


def chromium(url, *args):
    profile = tempfile.mkdtemp(prefix="bilmod-chromium-")
    try:
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                               *args, url], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def polylines(dom, metric):
    """{run_id: (data-points, data-drawn)} of the chart of one metric in a dumped DOM."""
    match = re.search(r'<svg[^>]*data-metric="' + re.escape(metric) + r'".*?</svg>', dom, re.S)
    assert match, f"no chart for {metric}"
    found = {}
    for line in re.findall(r"<polyline[^>]*>", match.group(0)):
        run = re.search(r'data-run="([0-9a-f]+)"', line).group(1)
        found[run] = (int(re.search(r'data-points="(\d+)"', line).group(1)),
                      int(re.search(r'data-drawn="(\d+)"', line).group(1)),
                      len(re.search(r' points="([^"]*)"', line).group(1).split()))
    return found


def test_page_in_headless_chromium(tmp):
    if not CHROMIUM:
        skipping.skipped("Chromium not found (Debian: chromium); the browser check did not run")
        return
    td, store = setup(tmp)
    dash = Dashboard(td)
    try:
        view = f"#project={PROJECT}&metrics=val/accuracy,train/batch_loss&x=epoch&logx=0&logy=0"
        result = chromium(dash.url + view, "--dump-dom")
        dom = result.stdout
        assert 'data-ready="1"' in dom, f"the page never finished drawing:\n{result.stderr[-2000:]}"
        runs_table = re.search(r'<table id="runs">.*?</table>', dom, re.S).group(0)
        for name in RUNS:
            assert name in runs_table, f"run {name} not listed"
        lines = polylines(dom, "val/accuracy")
        assert set(lines) == set(store.ids.values()), lines
        for name, epochs in RUNS.items():
            points, drawn, vertices = lines[store.ids[name]]
            assert points == epochs + 1 and drawn == points and vertices == points, (name, points, drawn, vertices)
        lines = polylines(dom, "train/batch_loss")  # per-step rows, placed on the epoch axis
        for name, epochs in RUNS.items():
            assert lines[store.ids[name]][0] == epochs * STEPS_PER_EPOCH, (name, lines[store.ids[name]])
        # Log x: epoch 0 has no place on it, every other evaluation does.
        dom = chromium(dash.url + view.replace("logx=0", "logx=1"), "--dump-dom").stdout
        lines = polylines(dom, "val/accuracy")
        for name, epochs in RUNS.items():
            assert lines[store.ids[name]][0] == epochs, (name, lines[store.ids[name]])
        artifacts = os.path.join(os.path.dirname(os.path.abspath(BILMOD)), "test-artifacts")
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "dashboard.png")
        chromium(dash.url + view.replace("logx=0", "logx=1"), f"--screenshot={shot}")
        assert os.path.getsize(shot) > 10000, "the screenshot is (nearly) empty"
        print(f"  screenshot: {shot}")
    finally:
        dash.stop()


if __name__ == "__main__":
    checks = Checks()
    for test in (test_api_lists_runs_and_serves_new_rows, test_page_in_headless_chromium):
        checks.tmp = tempfile.mkdtemp(prefix="bilmod-dashboard-")
        checks.run(test)
        shutil.rmtree(checks.tmp, ignore_errors=True)
    checks.finish()
