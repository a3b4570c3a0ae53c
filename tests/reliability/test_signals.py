"""SIGINT and SIGTERM end `bilmod train` gracefully (issue 6): the run stops at the next step boundary, writes a
checkpoint that records its place inside the epoch, prints one line saying how to resume, and exits 130 (SIGINT)
or 143 (SIGTERM). Resuming from that checkpoint ends bitwise identical to an uninterrupted run. Signals are sent
at random moments, again and again within one run, including while a checkpoint is being written."""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from reliability_common import (BILMOD, Failures, checkpoints, differing_tensors, read_safetensors, run,  # noqa: E402
                                temporaries, tempdir, tracked_steps, uninterrupted_run)

EPOCHS = 12
# 8 steps per epoch, so most signals land inside an epoch; checkpoints every 3 epochs, so the stop's own
# checkpoint usually stands alone.
FLAGS = ["--model", "mlp", "--mod-basis", 29, "--hidden-dim", 48, "--batch-size", 53, "--train-frac", 0.5,
         "--epochs", EPOCHS, "--checkpoint-every", 3, "--seed", 11, "--threads", 1, "--no-track", "--no-progress",
         "--log-level", "ERROR", "--eval-every", 2]


def handlers_installed(pid):
    """Whether the process catches SIGINT and SIGTERM yet (SigCgt in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = int(next(l for l in f if l.startswith("SigCgt:")).split()[1], 16)
    except (OSError, StopIteration):
        return False
    return all(caught >> (s - 1) & 1 for s in (signal.SIGINT, signal.SIGTERM))


def tracking_rounds(failures, rng, full_time, rounds=3):
    """With the tracking store on: a stop flushes every step's row up to the stop, and the resumed run continues
    the same run's steps, each exactly once."""
    epochs = 20 * EPOCHS  # long enough that the signal always lands before the end
    flags = [f for f in FLAGS if f != "--no-track"]
    flags[flags.index("--epochs") + 1] = epochs
    for r in range(rounds):
        with tempdir() as d:
            store, ck = os.path.join(d, "store"), os.path.join(d, "ck")
            p = subprocess.Popen([BILMOD, "train", *[str(a) for a in flags], "--checkpoint-dir", ck, "--tracking-dir",
                                  store, "--project", "sig"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            while p.poll() is None and not (os.path.isdir(ck) and checkpoints(ck)):
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 2 * full_time))
            sig = signal.SIGINT if r % 2 == 0 else signal.SIGTERM
            p.send_signal(sig)
            p.communicate(timeout=600)
            if not failures.check(p.returncode in (130, 143), f"tracking round {r}: stopped (exit {p.returncode})"):
                continue
            _, meta = read_safetensors(checkpoints(ck)[max(checkpoints(ck))])
            stopped = int(meta["step"])
            steps = tracked_steps(os.path.join(store, "sig.db"), meta["run_id"])
            failures.check(sorted(steps) == list(range(1, stopped + 1)) and set(steps.values()) <= {1},
                           f"tracking round {r}: after the stop at step {stopped} the store holds each step 1..{stopped} "
                           f"once (has {len(steps)} steps, last {max(steps, default=None)})")
            run("train", "--resume-from", ck, check=0)
            _, final = read_safetensors(checkpoints(ck)[epochs])
            steps = tracked_steps(os.path.join(store, "sig.db"), meta["run_id"])
            total = int(final["step"])
            failures.check(final["run_id"] == meta["run_id"] and sorted(steps) == list(range(1, total + 1))
                           and set(steps.values()) <= {1},
                           f"tracking round {r}: resumed, the same run holds each step 1..{total} once "
                           f"({len(steps)} steps, duplicates {[k for k, v in steps.items() if v > 1][:5]})")


def main():
    failures = Failures()
    rng = random.Random(int(os.environ.get("BILMOD_SIGNAL_SEED", "7")))
    rounds = int(os.environ.get("BILMOD_SIGNAL_ROUNDS", "10"))
    reference, ref_meta, full_time = uninterrupted_run(FLAGS, EPOCHS)

    sent = mid_epoch = 0
    for r in range(rounds):
        with tempdir() as d:
            args = [*FLAGS, "--checkpoint-dir", d]
            stops = 0
            while True:
                p = subprocess.Popen([BILMOD, "train", *[str(a) for a in args]], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                # Wait for the handlers (a signal during exec is the default death), then a random moment.
                while not handlers_installed(p.pid) and p.poll() is None:
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0, 0.5 * full_time))
                sig = rng.choice([signal.SIGINT, signal.SIGTERM])
                # After 20 stops the run is let finish: on a loaded machine the start-up can outlast every random
                # moment, and a round that never ends would say nothing about resuming.
                if p.poll() is None and stops < 20:
                    p.send_signal(sig)
                    sent += 1
                out, err = p.communicate(timeout=600)
                if p.returncode == 0:
                    break  # the run ended before the signal mattered
                expected = 130 if sig == signal.SIGINT else 143
                name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
                lines = [l for l in err.splitlines() if l.strip()]
                failures.check(p.returncode == expected, f"round {r}: {name} -> exit {p.returncode} (expected {expected})")
                failures.check(not temporaries(d), f"round {r}: no temporary files ({temporaries(d)})")
                stops += 1
                have = checkpoints(d)
                if len(lines) == 1 and f"{name} before the first step: nothing to save" in lines[0]:
                    # Stopped during start-up (loading, opening the store): nothing written, start again.
                    continue
                failures.check(len(lines) == 1 and f"{name}: stopped after step" in lines[0] and "--resume-from" in lines[0],
                               f"round {r}: one line saying where it stopped and how to resume: {lines}")
                latest = have[max(have)]
                _, meta = read_safetensors(latest)
                failures.check(latest in lines[-1] if lines else False,
                               f"round {r}: the message names the checkpoint it wrote ({os.path.basename(latest)})")
                mid_epoch += meta["epoch_step"] != "0"
                print(f"  stopped at epoch {meta['epoch']} + {meta['epoch_step']} steps (step {meta['step']})")
                args = ["--resume-from", d]
                if p.returncode not in (130, 143):
                    break
            if not failures.check(EPOCHS in checkpoints(d), f"round {r}: the run reached its last epoch"):
                continue
            final, meta = read_safetensors(checkpoints(d)[EPOCHS])
            diff = differing_tensors(reference, final)
            failures.check(not diff, f"round {r}: stopped {stops} times and resumed: tensors bitwise those of the "
                                     f"uninterrupted run (differing: {diff})")
            failures.check(meta["step"] == ref_meta["step"] and meta["metrics"] == ref_meta["metrics"],
                           f"round {r}: same step ({meta['step']} vs {ref_meta['step']}) and metrics")
    tracking_rounds(failures, rng, full_time)
    sent += 3
    print(f"faults injected: {sent} SIGINT/SIGTERM; {mid_epoch} stops inside an epoch")
    failures.check(mid_epoch >= 1, f"some stops landed inside an epoch ({mid_epoch})")
    failures.finish()


if __name__ == "__main__":
    main()
