"""A diverged run stops with exit 1 and a message naming epoch and step; the last good checkpoint stays intact
and loadable, and no checkpoint of the diverged state is written."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import Failures, run_bilmod, tempdir  # noqa: E402


def main():
    failures = Failures()
    for model in ["factored", "mlp", "bilinear"]:
        with tempdir() as d:
            proc = run_bilmod("train", "--model", model, "--mod-basis", 11, "--hidden-dim", 8, "--learning-rate", 1e12,
                              "--epochs", 20, "--checkpoint-every", 1, "--checkpoint-dir", d, "--no-progress",
                              "--no-track", expect=1)
            last = proc.stderr.strip().splitlines()[-1]
            failures.check(re.search(r"diverged .*epoch \d+, step \d+", last) is not None, f"{model}: '{last}'")
            names = sorted(os.listdir(d), key=lambda n: int(re.findall(r"\d+", n)[0]) if re.findall(r"\d+", n) else -1)
            failures.check(all(n.startswith("checkpoint_epoch_") for n in names) and names,
                           f"{model}: only complete checkpoints on disk: {names}")
            run_bilmod("evaluate", d)  # the latest checkpoint loads (it holds only finite values)
            failures.check(len(names) < 21, f"{model}: stopped before the end ({len(names)} checkpoints)")
    failures.finish()


if __name__ == "__main__":
    main()
