#!/usr/bin/env bash
# bilmod against PyTorch, side by side: builds bilmod in Release (build-bench/), then runs bench/bench.py, which
# trains the PyTorch reference models (bench/torch_reference.py, Debian's python3-torch) and bilmod's on the same
# configurations, interleaved, and prints the table. Arguments go to bench.py (--help; --quick for a tiny smoke run).
# The Google Benchmark micro-benchmarks of the kernels: build/bench/bilmod_kernels_bench (bootstrap.sh builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BILMOD_BENCH_BUILD:-build-bench}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bilmod
exec /usr/bin/python3 bench/bench.py --binary "$build/bilmod" "$@"
