#!/bin/bash
# Whole `bilmod train` runs by two builds, interleaved (old, new, old, new, ...), so that whatever else the machine does
# falls on both alike; prints each run's wall times and their medians. Run it on an idle machine; it never fails for
# being slow. usage: bash bench/compare_builds_time.sh OLD NEW [ROUNDS]
OLD=$1 NEW=$2 ROUNDS=${3:-5}
set -u
runs=(
 "nanda|--preset nanda2023 --epochs 150 --checkpoint-every 1000"
 "factored|--model factored --train-frac 0.3 --epochs 300 --checkpoint-every 1000"
 "bilinear|--model bilinear --train-frac 0.3 --epochs 100 --checkpoint-every 1000"
 "mlp_quad|--model mlp --activation quad --train-frac 0.3 --epochs 300 --checkpoint-every 1000"
)
dir=$(mktemp -d)
for r in "${runs[@]}"; do
  name=${r%%|*}; flags=${r#*|}
  declare -a t_old=() t_new=()
  for ((i = 0; i < ROUNDS; ++i)); do
    for which in old new; do
      bin=$OLD; [ $which = new ] && bin=$NEW
      rm -rf "$dir/run"
      /usr/bin/time -o "$dir/t" -f "%e" $bin train $flags --checkpoint-dir "$dir/run" --no-progress --no-track >/dev/null 2>&1
      [ $which = old ] && t_old+=("$(cat "$dir/t")") || t_new+=("$(cat "$dir/t")")
    done
  done
  median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
  echo "$name  old ${t_old[*]}  new ${t_new[*]}  median old $(median "${t_old[@]}") s, new $(median "${t_new[@]}") s"
  unset t_old t_new
done
rm -rf "$dir"
