#!/usr/bin/env bash
# Throughput of `bilmod sweep --jobs 2` against the same 8 runs one after another (the issue's >= 1.8x on 2 cores).
#   bash bench/sweep_throughput.sh [path/to/bilmod]
# Each run is single-threaded (--threads 1) in both cases, so the speed-up is what running runs side by side
# buys. The runs (factored, P = 59, 60 epochs) take a few seconds each, so process start-up is noise.
# Prints the three wall times and the speed-ups; exits 1 if --jobs 2 is under 1.8x the sequential sweep.
set -euo pipefail
BILMOD="${1:-./build/bilmod}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
settings=(--model factored --mod-basis 59 --hidden-dim 128 --train-frac 0.5 --epochs 60 --checkpoint-every 0 --no-track)
grid=(--grid weight-decay=0.3,1 --seeds 0-3)

now() { date +%s.%N; }
t0=$(now)
for wd in 0.3 1; do
  for seed in 0 1 2 3; do
    "$BILMOD" train "${settings[@]}" --weight-decay "$wd" --seed "$seed" --threads 1 --no-progress \
      --checkpoint-dir "$work/alone_${wd}_${seed}" > /dev/null 2>&1
  done
done
t1=$(now)
"$BILMOD" sweep "${grid[@]}" "${settings[@]}" --jobs 1 --output-dir "$work/jobs1" > /dev/null 2>&1
t2=$(now)
"$BILMOD" sweep "${grid[@]}" "${settings[@]}" --jobs 2 --output-dir "$work/jobs2" > /dev/null 2>&1
t3=$(now)
python3 - "$t0" "$t1" "$t2" "$t3" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:5])
alone, jobs1, jobs2 = t1 - t0, t2 - t1, t3 - t2
print(f"cores {sys.argv[5]}, load average before the last sweep {sys.argv[6]}")
print(f"8 x bilmod train --threads 1, one after another: {alone:7.2f} s")
print(f"bilmod sweep --jobs 1 (8 runs):                  {jobs1:7.2f} s")
print(f"bilmod sweep --jobs 2 (8 runs):                  {jobs2:7.2f} s")
print(f"speed-up --jobs 2 vs --jobs 1: {jobs1 / jobs2:.2f}x; vs runs one after another: {alone / jobs2:.2f}x")
sys.exit(0 if jobs1 / jobs2 >= 1.8 else 1)
PY
