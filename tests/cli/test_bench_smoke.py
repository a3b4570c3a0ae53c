"""The benchmarks cannot rot (issues 5 and 13): bench/bench.py and bench/whole_run.py run end to end at tiny sizes
against the built binary and PyTorch and print their tables. It checks that the scripts work, never how fast
anything is. Where PyTorch would run on the reference BLAS (no OpenBLAS installed), the check is that both refuse,
with one line and exit 1, and that their bilmod-only runs (--no-torch) still work."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "bench")
sys.path.insert(0, BENCH)
from torch_reference import blas_kind  # noqa: E402


def run(args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900)


def torch_blas():
    proc = run([os.path.join(BENCH, "torch_reference.py"), "--blas-only"])
    if proc.returncode != 0:
        sys.exit(f"torch_reference.py --blas-only failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def expect(out, needles, failures, what):
    for needle in needles:
        if needle not in out:
            failures.append(f"{what}: the table lacks {needle!r}")


def main():
    binary = os.environ.get("BILMOD")
    if not binary:
        sys.exit("test_bench_smoke: set BILMOD to the bilmod binary (ctest does)")
    optimised = '"blas": "openblas"' in torch_blas() or '"blas": "mkl"' in torch_blas()
    bench = [os.path.join(BENCH, "bench.py"), "--binary", binary, "--quick", "--configs", "minibatch-1t,fullbatch-all"]
    whole = [os.path.join(BENCH, "whole_run.py"), "--binary", binary, "--epochs", "3"]
    failures = []
    # The BLAS check itself: the reference library's name is recognised as such, OpenBLAS's as OpenBLAS.
    if blas_kind(["/usr/lib/x86_64-linux-gnu/blas/libblas.so.3",
                  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so"]) != "reference":
        failures.append("blas_kind does not recognise the reference BLAS")
    if blas_kind(["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
                  "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"]) != "openblas":
        failures.append("blas_kind does not recognise OpenBLAS")
    if optimised:
        proc = run(bench)
        if proc.returncode != 0:
            failures.append(f"bench.py exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        expect(proc.stdout, ("| minibatch-1t | bilmod | bilinear | 1 |", "| minibatch-1t | PyTorch | the seed's code",
                             "| fullbatch-all | bilmod | factored |", "| minibatch-1t | bilinear | fastest measured: gather",
                             "| minibatch-1t | factored | fastest measured: factored, ", "speed-up", "machine:",
                             "versions:", "blas: PyTorch's matmuls call OpenBLAS"), failures, "bench.py")
        proc = run(whole)
        if proc.returncode != 0:
            failures.append(f"whole_run.py exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        expect(proc.stdout, ("| factored | bilmod | 3 |", "| factored | PyTorch (factored-embedding) | 3 |",
                             "| seed | bilmod | 3 |", "| seed | PyTorch (gather) | 3 |", "bilmod vs PyTorch"), failures,
               "whole_run.py")
    else:
        for script in (bench, whole):
            proc = run(script)
            lines = proc.stderr.strip().splitlines()
            if proc.returncode != 1 or len(lines) != 1 or "not an optimised one" not in lines[0]:
                failures.append(f"{os.path.basename(script[0])} on the reference BLAS: exit {proc.returncode}, "
                                f"stderr {proc.stderr[-1000:]!r} (wanted one refusing line and exit 1)")
        proc = run(bench + ["--no-torch"])
        if proc.returncode != 0:
            failures.append(f"bench.py --no-torch exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        expect(proc.stdout, ("| minibatch-1t | bilmod | bilinear | 1 |", "| fullbatch-all | bilmod | factored |"),
               failures, "bench.py --no-torch")
        proc = run(whole + ["--no-torch"])
        if proc.returncode != 0:
            failures.append(f"whole_run.py --no-torch exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        expect(proc.stdout, ("| factored | bilmod | 3 |", "| seed | bilmod | 3 |"), failures, "whole_run.py --no-torch")
    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    print(f"bench smoke run ({'optimised BLAS: full tables' if optimised else 'reference BLAS: refusals'}): ok")


if __name__ == "__main__":
    main()
