#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer) in build-fuzz/ and runs
# each one over a scratch copy of its seed corpus for its share of SECONDS (default 300 in all). The shares follow
# where hostile input is richest: torch_archive (the pickle and tensor views of a .pt, past the zip's CRCs) 4,
# pickle 2, every other target 1.
#   bash fuzz/run.sh [SECONDS]
# Exit 1 if any target crashes, leaks, times out or runs out of memory; the input that did it is left in
# build-fuzz/artifacts/ (copy it to fuzz/regressions/<target>/ once fixed, and ctest replays it for ever).
set -euo pipefail
cd "$(dirname "$0")/.."
total="${1:-300}"
build=build-fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DBILMOD_FUZZ=ON -DBILMOD_SANITIZE_ADDRESS=ON -DBILMOD_SANITIZE_UNDEFINED=ON -DBILMOD_BUILD_BENCH=OFF >/dev/null
targets=()
for f in fuzz/fuzz_*.cc; do targets+=("$(basename "$f" .cc)"); done
cmake --build "$build" -j2 --target "${targets[@]}"

weight() { case "$1" in fuzz_torch_archive) echo 4 ;; fuzz_pickle) echo 2 ;; *) echo 1 ;; esac; }
units=0
for t in "${targets[@]}"; do units=$(( units + $(weight "$t") )); done
mkdir -p "$build/artifacts"
status=0
for t in "${targets[@]}"; do
  name="${t#fuzz_}"
  work="$build/corpus/$name"
  rm -rf "$work" && mkdir -p "$work"
  cp fuzz/corpus/"$name"/* "$work"/
  share=$(( total * $(weight "$t") / units ))
  [ "$share" -ge 1 ] || share=1
  dict=()
  case "$name" in safetensors | checkpoint) dict=(-dict=fuzz/safetensors.dict) ;; esac
  echo "fuzz: $t for ${share}s"
  # Regressions first (-runs=0 replays them), then fuzzing from the seed corpus.
  if [ -d "fuzz/regressions/$name" ]; then
    "$build/fuzz/$t" -runs=0 "fuzz/regressions/$name" >/dev/null 2>"$build/$t.replay.log" || {
      echo "fuzz: $t crashes on a recorded regression:"; tail -30 "$build/$t.replay.log"; status=1; }
  fi
  if ! "$build/fuzz/$t" "$work" "${dict[@]}" -max_total_time="$share" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" 2>"$build/$t.log"; then
    echo "fuzz: $t found a failure:"; tail -40 "$build/$t.log"; status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$build/$t.log" | sed "s/^/fuzz: $t /" || true
done
exit $status
