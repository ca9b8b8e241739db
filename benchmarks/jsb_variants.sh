#!/usr/bin/env bash
# The search behind the JSB checkpoint (checkpoints/jsb/README.md): a pool of variants of one base
# configuration, trained side by side, then `ensemble --select` picks members one by one on the validation
# split. The test split plays no part.
#   MAT=path/to/JSB_Chorales.mat DEV=cpu PARALLEL=2 SELECT=8 OUT=folder bash benchmarks/jsb_variants.sh
# Writes $OUT/pool.txt (one line per run: name, id, status, epochs, best valid NLL), $OUT/select.txt (the
# picks, with the validation NLL after each) and $OUT/best.pt (the selected ensemble, float16 weights).
# On 2 CPU cores (PARALLEL=2) a run takes 2-4 minutes on its core: the 61 runs (37 variants) took about 80 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
MAT=${MAT:-../shared/data/jsb/JSB_Chorales.mat}
OUT=${OUT:-$(mktemp -d)}
export MUSICGEN_HOME=${MUSICGEN_HOME:-$(mktemp -d)} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
$PY -m musicgen preprocess "$MAT" --out "$MUSICGEN_HOME/data/jsb" >/dev/null || exit 1

# Each run: BASE, then its own flags (the later value wins). BASE: one causal conv layer (128 channels, kernel 3,
# ReLU), 2 x 256 GRU, dropout 0.5, skip path; Adam 1e-3, batch 8, lr halved on a validation plateau, early stop
# after 8 epochs without a better validation NLL.
BASE="--conv-channels 128 --conv-kernel 3 --conv-layers 1 --hidden 256 --gru-layers 2 --dropout 0.5 --optimizer adam
  --loss bce --lr 1e-3 --weight-decay 0 --batch-size 8 --epochs 40 --schedule plateau --patience 8 --monitor nll --clip 1"
# name seeds flags. B: no conv layer; C: batch 4; Ck1/Ck2/Ck4: conv kernel 1/2/4; c256/c512/...: conv channels.
POOL='
B         5         --conv-layers 0
BC        5         --conv-layers 0 --batch-size 4
BClr2     6         --conv-layers 0 --batch-size 4 --lr 2e-3
Bh384     5,6,7     --conv-layers 0 --hidden 384
Bd6       5         --conv-layers 0 --dropout 0.6
Bl3       5,6       --conv-layers 0 --gru-layers 3
Bbig      5         --conv-layers 0 --gru-layers 3 --hidden 384 --dropout 0.6
Bg1h512   5         --conv-layers 0 --gru-layers 1 --hidden 512
Bns       5         --conv-layers 0 --no-skip
Blr2      5,6       --conv-layers 0 --lr 2e-3
Blr2b16   5         --conv-layers 0 --lr 2e-3 --batch-size 16
Blr3      5,6,7     --conv-layers 0 --lr 3e-3
Blr5      5         --conv-layers 0 --lr 5e-3
C         5,6,7     --batch-size 4
Clr2      5         --batch-size 4 --lr 2e-3
C2        5         --batch-size 4 --conv-layers 2
Cc256     5,6       --batch-size 4 --conv-channels 256
Cc512     5         --batch-size 4 --conv-channels 512
Ck1       5,6,7,8   --batch-size 4 --conv-kernel 1
Ck1b8     5         --conv-kernel 1
Ck1c256   5,6,7     --batch-size 4 --conv-kernel 1 --conv-channels 256
Ck1c256h384 5       --batch-size 4 --conv-kernel 1 --conv-channels 256 --hidden 384
Ck1c512   5,6,7,8   --batch-size 4 --conv-kernel 1 --conv-channels 512
Ck1c512d6 5         --batch-size 4 --conv-kernel 1 --conv-channels 512 --dropout 0.6
Ck1c512b8 5         --conv-kernel 1 --conv-channels 512
Ck1c1024  5,6,7     --batch-size 4 --conv-kernel 1 --conv-channels 1024
Ck1c2048  5         --batch-size 4 --conv-kernel 1 --conv-channels 2048
Ck1lr2    5         --batch-size 4 --conv-kernel 1 --lr 2e-3
C2k1      5         --batch-size 4 --conv-kernel 1 --conv-layers 2
C2k1c256  5,6       --batch-size 4 --conv-kernel 1 --conv-layers 2 --conv-channels 256
C2k1c512  5         --batch-size 4 --conv-kernel 1 --conv-layers 2 --conv-channels 512
Ck2       5,6,7,8   --batch-size 4 --conv-kernel 2
Ck2c256   5         --batch-size 4 --conv-kernel 2 --conv-channels 256
Ck2c512   5,6       --batch-size 4 --conv-kernel 2 --conv-channels 512
Ck2c1024  5         --batch-size 4 --conv-kernel 2 --conv-channels 1024
Ck2ns     5         --batch-size 4 --conv-kernel 2 --no-skip
Ck4       5         --batch-size 4 --conv-kernel 4
'
echo "$POOL" | while read -r name seeds flags; do
  [ -n "$name" ] || continue
  for s in ${seeds//,/ }; do
    echo "$PY -m musicgen train --data jsb" $BASE "--seed $s --name $name-s$s $flags --device ${DEV:-cpu} --json > $OUT/$name-s$s.log 2>&1"
  done
done | timeout "${SEARCH_S:-10800}" xargs -P "${PARALLEL:-2}" -I{} bash -c "{}"

$PY - <<'PY' > "$OUT/pool.txt"
from musicgen import store
r = store.list_runs()
for _, row in r.sort_values("name").iterrows():
    print(row["name"], row["id"], row["status"], row["epochs_done"], round((row.summary or {}).get("best", {}).get("nll", float("nan")), 4))
PY
cat "$OUT/pool.txt"
ids=$(awk '$3 == "finished" {print $2}' "$OUT/pool.txt" | tr '\n' ' ')
# shellcheck disable=SC2086
$PY -m musicgen ensemble $ids --data jsb --select "${SELECT:-8}" --half --out "$OUT/best.pt" | tee "$OUT/select.txt"
