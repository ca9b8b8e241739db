#!/usr/bin/env bash
# The search that chose the JSB checkpoint's members (checkpoints/jsb/README.md): four variants of
# configs/jsb.json, 4 seeds each, trained side by side, one ensemble per variant, compared on validation.
#   MAT=path/to/JSB_Chorales.mat DEV=cuda OUT=folder bash benchmarks/jsb_variants.sh
# Writes $OUT/search.txt (one line per run: name, id, status, epochs, best valid NLL) and $OUT/ens_<V>.pt.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
MAT=${MAT:-../shared/data/jsb/JSB_Chorales.mat}
OUT=${OUT:-$(mktemp -d)}
export MUSICGEN_HOME=${MUSICGEN_HOME:-$(mktemp -d)} PYTHONUNBUFFERED=1
$PY -m musicgen preprocess "$MAT" --out "$MUSICGEN_HOME/data/jsb" >/dev/null
declare -A V=([A]="" [B]="--conv-layers 0" [C]="--batch-size 4" [D]="--conv-kernel 5 --conv-channels 192")
for v in A B C D; do for s in 5 6 7 8; do
  echo "$PY -m musicgen train --data jsb --recipe configs/jsb.json --seed $s --name $v-s$s ${V[$v]} --device ${DEV:-cuda} --json > /tmp/$v-s$s.log 2>&1"
done; done | timeout "${SEARCH_S:-600}" xargs -P "${PARALLEL:-16}" -I{} bash -c "{}"
$PY - <<'PY' > "$OUT/search.txt"
from musicgen import store
r = store.list_runs()
for _, row in r[r.name.str.match(r"^[ABCD]-s")].sort_values("name").iterrows():
    print(row["name"], row["id"], row["status"], row["epochs_done"], round((row.summary or {}).get("best", {}).get("nll", float("nan")), 4))
PY
cat "$OUT/search.txt"
for v in A B C D; do
  ids=$(awk -v v="$v" '$1 ~ "^"v"-s" {print $2}' "$OUT/search.txt" | tr '\n' ' ')
  $PY -m musicgen ensemble $ids --out "$OUT/ens_$v.pt" --json | tail -1
done
