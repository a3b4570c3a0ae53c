#!/usr/bin/env bash
# bilmod against PyTorch, side by side: builds bilmod in Release (build-bench/), then runs bench/bench.py, which
# trains the PyTorch reference models (bench/torch_reference.py, Debian's python3-torch) and bilmod's on the same
# configurations, interleaved, and prints the table. Arguments go to bench.py (--help; --quick for a tiny smoke run).
# PyTorch must run on an optimised BLAS, as researchers run it: where Debian's python3-torch would call the netlib
# reference BLAS, this installs Debian's OpenBLAS (libopenblas0-pthread; update-alternatives then puts it behind
# libblas.so.3), and bench.py checks at run time which BLAS PyTorch really called (it refuses the reference one).
# Whole runs side by side: bench/whole_run.py. The Google Benchmark micro-benchmarks of the kernels:
# build/bench/bilmod_kernels_bench, and this machine's peaks: build/bench/bilmod_machine_peak (bootstrap.sh builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BILMOD_BENCH_BUILD:-build-bench}"
if [[ " $* " != *" --no-torch "* ]]; then
  blas=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_reference.py --blas-only)
  if [[ "$blas" != *'"blas": "openblas"'* && "$blas" != *'"blas": "mkl"'* ]]; then
    echo "bench: PyTorch calls the reference BLAS; installing Debian's OpenBLAS (libopenblas0-pthread)" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends libopenblas0-pthread
  fi
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bilmod
exec /usr/bin/python3 bench/bench.py --binary "$build/bilmod" "$@"
