#!/bin/bash
# Trains the README example runs with two bilmod binaries (say, before and after a change) and compares every
# checkpoint: tensors, step and metrics must be the same bits. usage: bash scripts/compare_builds.sh OLD NEW WORKDIR
OLD=$1 NEW=$2 OUT=$3
set -u
mkdir -p "$OUT"
runs=(
 "nanda_long|--preset nanda2023 --mod-basis 31 --epochs 40 --eval-every 3 --checkpoint-every 20"
 "factored|--model factored --train-frac 0.3 --epochs 300"
 "bilinear|--model bilinear --train-frac 0.3 --epochs 300"
 "bilinear_b|--model bilinear --train-frac 0.3 --epochs 60 --batch-size 64 --grad-accum-steps 2 --checkpoint-every 7"
 "mlp_quad|--model mlp --activation quad --train-frac 0.3 --epochs 300"
 "p59|--model factored --mod-basis 59 --hidden-dim 64 --train-frac 0.5 --epochs 300 --checkpoint-every 10"
 "nanda|--preset nanda2023 --epochs 300"
 "sgd|--model factored --optimizer sgd --momentum 0.9 --learning-rate 0.05 --epochs 100"
 "grokfast|--model bilinear --grokfast ema --epochs 50"
 "upstream_direct|--model bilinear --no-bias --no-output-projection --activation none --train-frac 0.3 --epochs 60"
 "upstream_proj|--model bilinear --no-bias --activation none --train-frac 0.3 --epochs 60"
 "mlp_relu|--model mlp --train-frac 0.3 --epochs 200"
 "nanda_bilinear_mlp|--preset nanda2023 --mlp bilinear --mod-basis 59 --epochs 100"
)
for r in "${runs[@]}"; do
  name=${r%%|*}; flags=${r#*|}
  for which in old new; do
    bin=$OLD; [ $which = new ] && bin=$NEW
    rm -rf $OUT/$name.$which
    $bin train $flags --checkpoint-dir $OUT/$name.$which --no-progress --no-track >/dev/null 2>$OUT/$name.$which.err || echo "$name $which FAILED: $(tail -1 $OUT/$name.$which.err)"
  done
  python3 - $OUT/$name.old $OUT/$name.new $name <<'PY'
import sys, os, json, struct
def read(p):
    b=open(p,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); data=b[8+n:]
    meta=h.pop('__metadata__',{})
    return {k:data[v['data_offsets'][0]:v['data_offsets'][1]] for k,v in h.items()}, meta
a,b,name=sys.argv[1:]
fa=sorted(f for f in os.listdir(a) if f.endswith('.safetensors')); fb=sorted(f for f in os.listdir(b) if f.endswith('.safetensors'))
bad=[]
added=set()
if fa!=fb: bad.append(f'files differ {fa} {fb}')
for f in fa:
    if f not in fb: continue
    x,mx=read(os.path.join(a,f)); y,my=read(os.path.join(b,f))
    if x!=y: bad.append(f'{f}: tensors differ ' + str([k for k in set(x)|set(y) if x.get(k)!=y.get(k)]))
    for k in ('step','epoch'):
        if mx.get(k)!=my.get(k): bad.append(f'{f}: {k} differs')
    # Metrics both builds log must agree; a measure only the new one logs is listed, not a difference.
    ma=json.loads(mx.get('metrics','{}')); mb=json.loads(my.get('metrics','{}'))
    if any(ma[k]!=mb[k] for k in ma if k in mb) or set(ma)-set(mb): bad.append(f'{f}: metrics differ')
    added.update(set(mb)-set(ma))
print(name, len(fa), 'checkpoints', 'IDENTICAL' if not bad else 'DIFFER: '+'; '.join(bad[:5]),
      ('(new metrics: ' + ', '.join(sorted(added)) + ')') if added else '')
PY
done
