"""The benchmark cannot rot (issue 5): bench/bench.py runs end to end at tiny sizes against the built binary and
PyTorch and prints its table. It checks that the script works, never how fast anything is."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "bench", "bench.py")


def main():
    binary = os.environ.get("BILMOD")
    if not binary:
        sys.exit("test_bench_smoke: set BILMOD to the bilmod binary (ctest does)")
    proc = subprocess.run([sys.executable, BENCH, "--binary", binary, "--quick", "--configs", "minibatch-1t,fullbatch-all"],
                          capture_output=True, text=True, timeout=900)
    failures = []
    if proc.returncode != 0:
        failures.append(f"bench.py exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    out = proc.stdout
    for needle in ("| minibatch-1t | bilmod | bilinear | 1 |", "| minibatch-1t | PyTorch | dense nn.Bilinear (seed) |",
                   "| fullbatch-all | bilmod | factored |", "| minibatch-1t | bilinear | gather |", "speed-up",
                   "machine:", "versions:"):
        if needle not in out:
            failures.append(f"the table lacks {needle!r}")
    if failures:
        print(out)
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    print("bench smoke run: ok")


if __name__ == "__main__":
    main()
