"""Crash safety (issue 6): `bilmod train` is killed with SIGKILL at random moments, many times, a quarter of
them the instant a checkpoint's temporary file appears (mid-write, mid-fsync or just before the rename). After
every kill the latest checkpoint on disk must load, and resuming from the folder, killed again and again, must end
with tensors bitwise identical to an uninterrupted run. Stale temporary files of killed runs are cleaned up by the
next run in the folder (checked on planted ones of a dead process; one of a live process stays).

BILMOD_KILL_CHAINS (default 10) x BILMOD_KILLS_PER_CHAIN (default 8) sets the number of kills."""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from reliability_common import (BILMOD, Failures, checkpoints, differing_tensors, read_safetensors, run,  # noqa: E402
                                temporaries, tempdir, tracked_steps, uninterrupted_run)

# A run of about a second in Release with a checkpoint every epoch (650 kB each, so writes take a while).
# One thread: on a loaded 2-core machine OpenMP's barriers make 2 threads 20x slower, not faster.
EPOCHS = 30
FLAGS = ["--model", "bilinear", "--mod-basis", 41, "--hidden-dim", 32, "--batch-size", 32, "--train-frac", 0.5,
         "--epochs", EPOCHS, "--checkpoint-every", 1, "--seed", 5, "--threads", 1, "--no-track", "--no-progress",
         "--log-level", "ERROR"]


def start(d, resume):
    args = ["--resume-from", d] if resume else [*FLAGS, "--checkpoint-dir", d]
    return subprocess.Popen([BILMOD, "train", *[str(a) for a in args]], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill_when_writing(p, d, extra_delay, deadline):
    """SIGKILL as soon as a temporary checkpoint file shows up (plus extra_delay seconds); True if one did."""
    while time.monotonic() < deadline and p.poll() is None:
        if any(".tmp." in n for n in os.listdir(d)):
            if extra_delay:
                time.sleep(extra_delay)
            p.kill()
            return True
    p.kill()
    return False


def dead_pid():
    """The id of a process that has exited and been reaped (so no process has it, barring reuse, which is checked)."""
    p = subprocess.Popen(["true"])
    p.wait()
    try:
        os.kill(p.pid, 0)
    except ProcessLookupError:
        return p.pid
    raise AssertionError(f"pid {p.pid} was reused at once")


def plant_temporaries(d):
    """What a writer killed mid-write leaves (src/util/atomic_file.cc): the first half of a checkpoint under
    ".checkpoint_epoch_N.safetensors.tmp.PID" and a ".bilmod-write-probe.PID", PID a process that no longer exists;
    the next run in the folder removes both. Plus a temporary file of a process that is alive (this test, as if it
    were writing there): that one must stay. Returns (the stale names, the live name and its bytes)."""
    have = checkpoints(d)
    data = open(have[max(have)], "rb").read() if have else b"\0" * 4096
    pid = dead_pid()
    stale = [f".checkpoint_epoch_{max(have, default=0) + 1}.safetensors.tmp.{pid}", f".bilmod-write-probe.{pid}"]
    for name, content in zip(stale, (data[:len(data) // 2], b"")):
        with open(os.path.join(d, name), "wb") as f:
            f.write(content)
    live = f".checkpoint_epoch_{EPOCHS}.safetensors.tmp.{os.getpid()}"
    with open(os.path.join(d, live), "wb") as f:
        f.write(data[:len(data) // 3])
    return stale, live, data[:len(data) // 3]


def tracked_chain(failures, rng, full_time, kills=6):
    """With the tracking store on, killed and resumed again and again: the store ends with each step of the
    run exactly once (rows flushed after the last checkpoint are logged again by the resumed run)."""
    flags = [f for f in FLAGS if f != "--no-track"]
    with tempdir() as d:
        ck, store = os.path.join(d, "ck"), os.path.join(d, "store")
        for k in range(kills):
            have = checkpoints(ck) if os.path.isdir(ck) else {}
            if have and max(have) == EPOCHS:
                break
            args = ["--resume-from", ck] if have else [*flags, "--checkpoint-dir", ck, "--tracking-dir", store,
                                                       "--project", "kill"]
            p = subprocess.Popen([BILMOD, "train", *[str(a) for a in args]], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 0.9) * full_time * (EPOCHS - max(have, default=0)) / EPOCHS + 0.1)
            p.kill()
            p.wait()
        run("train", "--resume-from", ck, check=0)
        _, meta = read_safetensors(checkpoints(ck)[EPOCHS])
        steps = tracked_steps(os.path.join(store, "kill.db"), meta["run_id"])
        total = int(meta["step"])
        missing = sorted(set(range(1, total + 1)) - set(steps))
        twice = sorted(k for k, v in steps.items() if v > 1)
        failures.check(not missing and not twice and len(steps) == total,
                       f"tracked chain: after {kills} kills the store holds each of the {total} steps once "
                       f"(missing {len(missing)} {missing[:5]}, logged twice {len(twice)} {twice[:5]})")


def main():
    failures = Failures()
    rng = random.Random(int(os.environ.get("BILMOD_KILL_SEED", "6")))
    chains = int(os.environ.get("BILMOD_KILL_CHAINS", "10"))
    kills_per_chain = int(os.environ.get("BILMOD_KILLS_PER_CHAIN", "8"))
    reference, ref_meta, full_time = uninterrupted_run(FLAGS, EPOCHS)

    kills = mid_write = stale_seen = 0
    for chain in range(chains):
        with tempdir() as d:
            run_ids = set()
            for k in range(kills_per_chain):
                have = checkpoints(d)
                if have and max(have) == EPOCHS:
                    break  # the chain's kills pushed it to the end already
                p = start(d, resume=bool(have))
                if k % 4 == 3:
                    hit = kill_when_writing(p, d, rng.choice([0, 0, 0.0005, 0.002]), time.monotonic() + 2 * full_time + 5)
                    mid_write += hit
                else:
                    # A moment within the work left, so that most kills land while the run is alive.
                    left = (EPOCHS - max(have, default=0)) / EPOCHS
                    time.sleep(rng.uniform(0.0, 0.6 * full_time * left))
                    p.kill()
                p.wait()
                kills += p.returncode == -signal.SIGKILL
                stale = temporaries(d)
                stale_seen += bool(stale)
                have = checkpoints(d)
                if have:
                    latest = have[max(have)]
                    try:
                        _, meta = read_safetensors(latest)
                        run_ids.add(meta["run_id"])
                        ok = True
                    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
                        ok, meta = False, {}
                        print(f"  {latest}: {e}")
                    if not failures.check(ok, f"chain {chain} kill {k}: latest checkpoint {os.path.basename(latest)} "
                                              f"reads (epoch {meta.get('epoch')}, step {meta.get('step')}, "
                                              f"stale temporaries {len(stale)})"):
                        break
            # The last resume runs to the end; it must also clear the killed runs' temporary files, planted ones
            # included (a kill need not have left one), and leave a live process's alone.
            planted, live, live_bytes = plant_temporaries(d)
            p = start(d, resume=bool(checkpoints(d)))
            _, err = p.communicate(timeout=600)
            if not failures.check(p.returncode == 0, f"chain {chain}: the final resume completes (exit {p.returncode}) "
                                                     f"{err.strip()[-300:]}"):
                continue
            left = [n for n in planted if os.path.exists(os.path.join(d, n))]
            failures.check(not left, f"chain {chain}: the resume removed the planted temporaries of a dead process "
                                     f"{planted} (left: {left})")
            live_path = os.path.join(d, live)
            kept = os.path.exists(live_path) and open(live_path, "rb").read() == live_bytes
            failures.check(kept, f"chain {chain}: it left {live} of a live process as it was")
            if os.path.exists(live_path):
                os.remove(live_path)
            final, meta = read_safetensors(checkpoints(d)[EPOCHS])
            diff = differing_tensors(reference, final)
            failures.check(not diff, f"chain {chain}: after {kills_per_chain} kills, the resumed run's tensors are "
                                     f"bitwise those of the uninterrupted run (differing: {diff})")
            failures.check(meta["step"] == ref_meta["step"] and meta["metrics"] == ref_meta["metrics"],
                           f"chain {chain}: same step ({meta['step']} vs {ref_meta['step']}) and metrics")
            failures.check(len(run_ids | {meta["run_id"]}) == 1, f"chain {chain}: one run id across every resume "
                                                                 f"({len(run_ids | {meta['run_id']})} seen)")
            failures.check(not temporaries(d), f"chain {chain}: no temporary files left at the end "
                                               f"({temporaries(d)})")
    # With the tracking store on: rows are committed before each checkpoint is written (before_checkpoint), so no
    # kill can leave a checkpoint whose steps the store lacks.
    tracked_chain(failures, rng, full_time)
    kills += 6
    print(f"faults injected: {kills} SIGKILLs ({mid_write} the instant a checkpoint was being written); "
          f"{stale_seen} kills left a temporary file behind")
    failures.check(kills >= 3 * chains, f"many kills landed while the run was alive ({kills}; at most "
                                        f"{chains * kills_per_chain} planned, fewer when a chain reaches the end)")
    failures.check(mid_write >= 1, f"at least one kill hit a checkpoint mid-write ({mid_write})")
    failures.finish()


if __name__ == "__main__":
    main()
