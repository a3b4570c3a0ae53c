#!/bin/bash
# Trains one small checkpoint per model variant with OLD, then runs the reading commands (analyze text and --json,
# analyze --hosvd, visualize-checkpoint, analyze --over-training) with OLD and NEW and compares their outputs byte for
# byte. usage: bash scripts/compare_analysis.sh OLD NEW WORKDIR
OLD=$1 NEW=$2 OUT=$3
set -u
mkdir -p "$OUT"
runs=(
 "factored|--model factored --mod-basis 23 --hidden-dim 24 --train-frac 0.5 --epochs 40 --checkpoint-every 20"
 "bilinear|--model bilinear --mod-basis 19 --hidden-dim 16 --train-frac 0.5 --epochs 30 --checkpoint-every 15"
 "direct|--model bilinear --no-bias --no-output-projection --activation none --mod-basis 17 --epochs 20 --checkpoint-every 10"
 "mlp_quad|--model mlp --activation quad --mod-basis 23 --hidden-dim 24 --train-frac 0.5 --epochs 40 --checkpoint-every 20"
 "mlp_relu|--model mlp --mod-basis 23 --hidden-dim 24 --train-frac 0.5 --epochs 40 --checkpoint-every 20"
 "transformer|--model transformer --mod-basis 13 --d-model 16 --num-heads 2 --full-batch --epochs 30 --checkpoint-every 15"
)
status=0
for r in "${runs[@]}"; do
  name=${r%%|*}; flags=${r#*|}
  rm -rf "$OUT/$name"
  $OLD train $flags --checkpoint-dir "$OUT/$name/ckpt" --no-progress --no-track >/dev/null 2>&1 || { echo "$name: train failed"; status=1; continue; }
  ck=$(ls "$OUT/$name/ckpt"/*.safetensors | sort | tail -1)
  for which in old new; do
    bin=$OLD; [ $which = new ] && bin=$NEW
    d="$OUT/$name/$which"; mkdir -p "$d"
    $bin analyze "$ck" --output-classes 0 1 2 >"$d/text" 2>"$d/text.err"; echo "rc $?" >>"$d/text"
    $bin analyze "$ck" --json >"$d/json" 2>"$d/json.err"; echo "rc $?" >>"$d/json"
    $bin analyze "$ck" --hosvd --top-k 3 --output-dir "$d/hosvd" >"$d/hosvd.out" 2>&1; echo "rc $?" >>"$d/hosvd.out"
    $bin visualize-checkpoint "$ck" --output-dir "$d/figures" >"$d/vis.out" 2>&1; echo "rc $?" >>"$d/vis.out"
    $bin analyze "$OUT/$name/ckpt" --over-training --output-dir "$d/progress" >"$d/progress.out" 2>&1; echo "rc $?" >>"$d/progress.out"
    sed -i "s|$d|DIR|g" "$d"/*.out "$d"/text* "$d"/json* 2>/dev/null
  done
  if diff -r -q "$OUT/$name/old" "$OUT/$name/new" >/dev/null; then echo "$name IDENTICAL"; else echo "$name DIFFER:"; diff -r -q "$OUT/$name/old" "$OUT/$name/new" | head -8; status=1; fi
done
exit $status
