#!/usr/bin/env bash
# The course-work study behind docs/study.md: the learning rate tuned per optimizer × loss on validation, then 5 seeds
# each at the chosen rate, early stopping on validation NLL; on JSB Chorales (official split) and builtin:bach.
#   MUSICGEN_HOME=/tmp/study bash benchmarks/study.sh ../shared/data/jsb/JSB_Chorales.mat [jsb|bach|both]
# Sized for 2 CPU cores: a smaller model than the default (hidden 128, conv 64 channels). Both run with early stopping
# and a 100-epoch cap: JSB in about 15 minutes; bach, 4x slower per epoch, in about 2 hours, and without 3e-4 in its grid.
set -euo pipefail
MAT=${1:?give the path of JSB_Chorales.mat}
WHICH=${2:-both}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-artifacts/study}
mkdir -p "$OUT"
COMMON=(--optimizers adam,adamw,rmsprop --losses bce,focal --seeds 5 --patience 6
        --hidden 128 --conv-channels 64 --workers 2 --threads 1)
run() {  # dataset tag lr-grid max-epochs
  local start; start=$(date +%s)
  $PY -m musicgen study --data "$1" --lr-grid "$3" --max-epochs "$4" "${COMMON[@]}" --json > "$OUT/$2.json"
  echo "$1: study wall time $(( $(date +%s) - start )) s" | tee -a "$OUT/wall.txt"
  $PY -m musicgen report "$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['seed_sweep_id'])" "$OUT/$2.json")" \
    --format md --out "$OUT/$2-report.md"
}
if [[ $WHICH != bach ]]; then
  $PY -m musicgen preprocess "$MAT" --name jsb-official
  run jsb-official jsb 3e-4,1e-3,3e-3,1e-2 100
fi
if [[ $WHICH != jsb ]]; then
  run builtin:bach bach 1e-3,3e-3,1e-2 100
fi
