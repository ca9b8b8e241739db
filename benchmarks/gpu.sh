#!/usr/bin/env bash
# Every GPU measurement in one call, one table each (also appended to $MD, default $OUT/gpu.md or gpu.md):
#   bash benchmarks/gpu.sh            (MAT=path/to/JSB_Chorales.mat, PY=python to use)
# 1. a short CUDA training through the CLI (issue 3's check), 2. trainer vs reference throughput,
# 3. time to validation NLL <= 8.6, trainer vs reference, 4. the shipped JSB checkpoint evaluated on the GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
MAT=${MAT:-../shared/data/jsb/JSB_Chorales.mat}
MD=${MD:-${OUT:-.}/gpu.md}
export MUSICGEN_HOME=${MUSICGEN_HOME:-$(mktemp -d)}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
echo "== 1. CLI training on CUDA (adamw + focal, 3 epochs)"
$PY -m musicgen preprocess "$MAT" --out "$MUSICGEN_HOME/data/jsb" | tail -2
$PY -m musicgen train --data jsb --optimizer adamw --loss focal --epochs 3 --device cuda --json | tail -c 400; echo
$PY -m musicgen runs | tail -2
echo "== 2. throughput"
$PY benchmarks/train_speed.py --device cuda --epochs 4 --mat "$MAT" --md "$MD"
echo "== 3. time to quality"
$PY benchmarks/time_to_quality.py --device cuda --max-seconds ${TTQ_SECONDS:-45} --mat "$MAT" --md "$MD"
if [ -f checkpoints/jsb/best.pt ]; then
  echo "== 4. shipped JSB checkpoint on the GPU"
  $PY -m musicgen benchmark jsb --mat "$MAT" --checkpoint jsb --device cuda
fi
