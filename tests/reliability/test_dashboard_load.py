"""The dashboard under load (issue 6): 50 concurrent clients for 30 s against a tracking store that a live
`bilmod train` is writing. No request may fail (every answer a 2xx with valid JSON, or the page), the server
must not crash and its memory must stay bounded; requests for paths outside the store, or for projects that
name one, are refused without leaking a byte of the file. BILMOD_DASHBOARD_SECONDS / _CLIENTS change the load."""
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from reliability_common import BILMOD, Failures, tempdir  # noqa: E402

SECONDS = float(os.environ.get("BILMOD_DASHBOARD_SECONDS", "30"))
CLIENTS = int(os.environ.get("BILMOD_DASHBOARD_CLIENTS", "50"))
PROJECT = "load"
RELOAD = 0.05  # the share of metrics requests that start from the first row again (a reloaded page)

# Paths and parameters that try to reach outside the store: each must be refused (4xx) and leak nothing.
ESCAPES = [
    "/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
    "/index.html/../../../etc/passwd", "//etc/passwd", "/%00", "/api/../../etc/passwd",
    "/api/runs?project=../../../../etc/passwd", "/api/runs?project=%2Fetc%2Fpasswd",
    "/api/runs?project=..%2F..%2Fetc%2Fpasswd", "/api/metrics?project=../" + PROJECT + "&run=x",
    "/api/runs?project=" + PROJECT + "%00.txt",
    "/api/metrics?project=" + PROJECT + "&run=x&after=-1", "/api/metrics?project=" + PROJECT + "&run=x&after=1e99",
]
# A run is a key in the project's database, not a path: these may be answered (with no rows), never leak.
KEYS = ["/api/metrics?project=" + PROJECT + "&run=../../etc/passwd",
        "/api/metrics?project=" + PROJECT + "&run=%27%20OR%201%3D1%20--"]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
    except (OSError, StopIteration):
        return 0


def main():
    failures = Failures()
    with tempdir() as d:
        store = os.path.join(d, "store")
        # Full-batch epochs of the default size: new rows every few tens of ms, a few thousand in all, so a page
        # that loads from the first row stays a page's worth (the API has no row cap: see the dashboard's notes).
        train = subprocess.Popen([BILMOD, "train", "--model", "factored", "--full-batch",
                                  "--epochs", "100000", "--checkpoint-every", "0", "--threads", "1", "--no-progress",
                                  "--log-level", "ERROR", "--tracking-dir", store, "--project", PROJECT,
                                  "--run-name", "live", "--checkpoint-dir", os.path.join(d, "ck")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Until the run's first rows are committed the file may exist without trackio's tables yet.
        db = os.path.join(store, PROJECT + ".db")
        while train.poll() is None:
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
                rows = con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
                con.close()
                if rows > 0:
                    break
            except sqlite3.Error:
                pass
            time.sleep(0.05)
        dash = subprocess.Popen([BILMOD, "dashboard", "--tracking-dir", store, "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = dash.stdout.readline()
        url = next((w for w in line.split() if w.startswith("http://")), "")
        if not failures.check(url != "", f"the dashboard says where it serves: {line.strip()!r}"):
            dash.kill()
            train.kill()
            failures.finish()
        host, port = urllib.parse.urlparse(url).hostname, urllib.parse.urlparse(url).port
        # /api/metrics takes a run id (names need not be unique): the page takes it from /api/runs, and so do we.
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", f"/api/runs?project={PROJECT}")
        runs = json.loads(conn.getresponse().read()).get("runs", [])
        conn.close()
        run_id = next((r.get("run_id", "") for r in runs if r.get("name") == "live"), "")
        if not failures.check(len(run_id) == 32, f"/api/runs lists the live run with its id: {runs!r:.200}"):
            dash.kill()
            train.kill()
            failures.finish()

        stop = time.monotonic() + SECONDS
        lock = threading.Lock()
        counts = {"ok": 0, "refused": 0, "metrics_rows": 0, "polled_onwards": 0}
        errors = []
        rss = []

        def request(conn, path):
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()

        def check_metrics(payload, after, last_step):
            """A metrics answer: the run's rows after row id `after`, each [step, {metric: number}], in step order,
            past the steps already seen; from the start (after = 0) the live run always has some."""
            rows = payload.get("rows")
            if payload.get("run_id") != run_id or not isinstance(rows, list) or payload.get("last_id", -1) < after:
                raise RuntimeError(f"not this run's rows after {after}: {str(payload)[:200]}")
            if after == 0 and not rows:
                raise RuntimeError("no rows for the live run from the start")
            steps = [r[0] for r in rows]
            if any(not (isinstance(r, list) and len(r) == 2 and isinstance(r[0], int) and isinstance(r[1], dict) and
                        r[1]) for r in rows) or steps != sorted(steps) or (steps and steps[0] < last_step):
                raise RuntimeError(f"rows after {after} (last step seen {last_step}) out of shape or order: "
                                   f"{str(rows)[:200]}")

        def client(seed):
            rng = random.Random(seed)
            conn = http.client.HTTPConnection(host, port, timeout=30)
            after, last_step = 0, -1
            while time.monotonic() < stop:
                kind = rng.random()
                try:
                    if kind < 0.1:
                        path = rng.choice(ESCAPES + KEYS)
                        status, body = request(conn, path)
                        refused = 400 <= status < 500 or (path in KEYS and status == 200 and
                                                          json.loads(body).get("rows") == [])
                        if not refused or b"root:" in body:
                            with lock:
                                errors.append(f"{path}: HTTP {status}, {body[:80]!r}")
                        with lock:
                            counts["refused"] += 1
                        continue
                    if kind < 0.2:
                        path = "/"
                    elif kind < 0.35:
                        path = "/api/projects"
                    elif kind < 0.5:
                        path = f"/api/runs?project={PROJECT}"
                    else:
                        path = f"/api/metrics?project={PROJECT}&run={run_id}&after={after}"
                    status, body = request(conn, path)
                    if status != 200:
                        raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
                    if path != "/":
                        payload = json.loads(body)
                    if "after=" in path:
                        check_metrics(payload, after, last_step)
                        rows = payload["rows"]
                        with lock:
                            counts["metrics_rows"] += len(rows)
                            counts["polled_onwards"] += after > 0 and len(rows) > 0
                        if rng.random() >= RELOAD:
                            # Poll onwards like the page does (from the last row id it was given)...
                            after, last_step = payload["last_id"], max((r[0] for r in rows), default=last_step)
                        else:
                            after, last_step = 0, -1  # ...or from the start again, as a page reloaded
                    with lock:
                        counts["ok"] += 1
                except Exception as e:  # noqa: BLE001 - any failed request is the finding
                    with lock:
                        errors.append(f"{path}: {type(e).__name__}: {e}")
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        while time.monotonic() < stop:
            rss.append(rss_kib(dash.pid))
            time.sleep(1)
        for t in threads:
            t.join()
        alive = dash.poll() is None
        failures.check(alive, f"the dashboard survived {CLIENTS} clients for {SECONDS:.0f} s (exit {dash.poll()})")
        failures.check(train.poll() is None, "the training run writing the store kept going")
        failures.check(not errors, f"{counts['ok']} requests answered, {counts['refused']} escapes refused, "
                                   f"{len(errors)} failures: {errors[:5]}")
        failures.check(counts["ok"] > 10 * CLIENTS, f"the load was real ({counts['ok']} requests)")
        failures.check(counts["metrics_rows"] > 0 and counts["polled_onwards"] > 0,
                       f"metrics requests returned the run's rows ({counts['metrics_rows']} in all), and polling "
                       f"onwards found new ones {counts['polled_onwards']} times")
        third = max(1, len(rss) // 3)
        early, late = max(rss[:third], default=0), max(rss[-third:], default=0)
        failures.check(0 < late <= max(1.5 * early, early + 64 * 1024) and late < 1024 * 1024,
                       f"bounded memory: {early // 1024} MiB in the first third, {late // 1024} MiB in the last")
        dash.send_signal(signal.SIGINT)
        try:
            dash.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            dash.kill()
        failures.check(dash.returncode == 0, f"the dashboard stops on SIGINT with exit 0 ({dash.returncode})")
        train.send_signal(signal.SIGINT)
        _, err = train.communicate(timeout=120)
        failures.check(train.returncode == 130, f"the run stops cleanly after the load (exit {train.returncode}) "
                                                f"{err.strip()[-200:]}")
    print(f"inputs tried: {counts['ok'] + counts['refused']} requests, {counts['refused']} of them escapes")
    failures.finish()


if __name__ == "__main__":
    main()
