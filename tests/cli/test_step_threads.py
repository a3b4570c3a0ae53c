"""`bilmod train --threads 0` (the default) times a training step at 1 thread and at every core when the run starts
and trains on the faster (src/train/step_threads.cc): the start's log states both measured times and the count it
chose, the chosen count is the faster of the two measured, and the run's checkpoints are bitwise those of a
--threads 1 run (every kernel gives the same bits at any thread count; the timed steps leave nothing behind).

Two configurations: a small step (a batch of 128 on the seed's model: about 40 us, where one thread tends to win)
and a large one (the full batch of 1860 pairs on a factored model with 128 hidden units: about 1.3 ms, where two
threads tend to win), so that, load permitting, both answers are seen. Either way the checks hold.

ctest sets OMP_NUM_THREADS=1 for the Python tests (tests/CMakeLists.txt); the runs here get OMP_NUM_THREADS=2, so
that "every core" is 2 threads, as in tests/cli/test_resume_determinism.py."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from reliability_common import (Failures, checkpoints, differing_tensors, read_safetensors, run,  # noqa: E402
                                tempdir)

ALL = 2  # OMP_NUM_THREADS below: "every core"
CASES = {
    "small step": ["--model", "bilinear", "--hidden-dim", 48, "--batch-size", 128],
    "large step": ["--model", "factored", "--hidden-dim", 128, "--full-batch"],
}
COMMON = ["--mod-basis", 61, "--train-frac", 0.5, "--seed", 2, "--epochs", 3, "--checkpoint-every", 1, "--no-track",
          "--no-progress"]


def timing_records(log_file):
    """The log file's records of the start-up thread timing (there must be exactly one)."""
    with open(log_file) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if r["message"].startswith("threads: steps on ")]


def main():
    failures = Failures()
    env = dict(os.environ, OMP_NUM_THREADS=str(ALL))
    chosen = {}
    for name, flags in CASES.items():
        with tempdir() as measured, tempdir() as one:
            log_file = os.path.join(measured, "log.jsonl")
            proc = run("train", *flags, *COMMON, "--threads", 0, "--checkpoint-dir", measured, "--log-level", "DEBUG",
                       "--log-file", log_file, env=env, check=0)
            reference = run("train", *flags, *COMMON, "--threads", 1, "--checkpoint-dir", one, env=env, check=0)

            records = timing_records(log_file)
            found = f"{len(records)} records" + ("" if len(records) == 1 else f"; stderr: {proc.stderr[-300:]!r}")
            if not failures.check(len(records) == 1, f"{name}: the start logs one thread timing ({found})"):
                continue
            fields, message = records[0]["fields"], records[0]["message"]
            us_1, us_all, threads = fields.get("step_us_1"), fields.get("step_us_all"), fields.get("step_threads")
            failures.check(fields.get("threads") == ALL and isinstance(us_1, int) and isinstance(us_all, int)
                           and us_1 > 0 and us_all > 0,
                           f"{name}: it measured a step at 1 thread ({us_1} us) and at every core, "
                           f"{fields.get('threads')} threads ({us_all} us)")
            text = re.search(r"steps on (\d+) of (\d+) \(a step of \d+ examples took (\d+) us on 1 thread, (\d+) us on "
                             r"(\d+)\)", message)
            failures.check(text is not None and [int(g) for g in text.groups()] == [threads, ALL, us_1, us_all, ALL]
                           and message in proc.stderr,
                           f"{name}: the log line states the times and the choice, as its fields do ({message!r})")
            # The choice compares the unrounded times; the log rounds to microseconds, so a tie there says nothing.
            if us_1 != us_all:
                faster = ALL if us_all < us_1 else 1
                failures.check(threads == faster, f"{name}: trains on the faster count: {threads} threads, measured "
                                                  f"{us_1} us on 1 and {us_all} us on {ALL}")
            else:
                failures.check(threads in (1, ALL), f"{name}: trains on 1 or {ALL} threads ({threads}; both measured "
                                                    f"{us_1} us)")
            chosen[name] = threads
            failures.check("threads: steps on " not in reference.stderr,
                           f"{name}: a --threads 1 run measures nothing")

            got, want = checkpoints(measured), checkpoints(one)
            failures.check(sorted(got) == sorted(want) == list(range(4)),
                           f"{name}: checkpoints of epochs {sorted(got)} and {sorted(want)} (0 to 3)")
            for epoch in sorted(set(got) & set(want)):
                x, meta_x = read_safetensors(got[epoch])
                y, meta_y = read_safetensors(want[epoch])
                diff = differing_tensors(x, y)
                same_metrics = meta_x["metrics"] == meta_y["metrics"] and meta_x["step"] == meta_y["step"]
                failures.check(not diff and same_metrics,
                               f"{name}: epoch {epoch} on {threads} step threads == --threads 1, bitwise ({len(x)} "
                               f"tensors, differing: {diff}; metrics and step "
                               f"{'the same' if same_metrics else 'differ'})")
    print(f"step threads chosen: {chosen}")
    failures.finish()


if __name__ == "__main__":
    main()
