#!/usr/bin/env bash
# Every GPU measurement in one call, one table each (also appended to $MD, default $OUT/gpu.md or gpu.md):
#   bash benchmarks/gpu.sh            (MAT=path/to/JSB_Chorales.mat, PY=python to use; section 8 needs Ray)
# 1. a short CUDA training through the CLI (issue 3's check), 2. trainer vs reference throughput at batch 32, 128 and
# the recipes' batch sizes (8: jsb-nade, 4: jsb), per precision, 3. time to validation NLL <= 8.6, trainer vs reference,
# 4. the shipped JSB checkpoint evaluated on the GPU, and for issue 25: 5. bf16 against fp32 step time per head and
# width (where auto's crossover lies: musicgen/training/device.py BF16_FROM_HIDDEN), 6. time to valid NLL <= 5.25 for
# the jsb-nade recipe under auto, 7. precision parity of both shipped recipes, seeds 0-2, fp32 / bf16 / auto (auto is
# not trained again when it resolves to fp32; PARALLEL runs share the GPU at once), 8. one Ray Train worker on the GPU
# (nccl). SKIP="4 7" skips sections (2-8; 1 always runs: it builds the dataset).
# Sections 1-6 should take ~5 min on an H200, 7 the longest (12 recipe runs; a jsb-nade run took ~110 s alone): with a
# 10-minute limit per call, run `SKIP=7 bash benchmarks/gpu.sh`, then `SKIP="2 3 4 5 6" bash benchmarks/gpu.sh`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
MAT=${MAT:-../shared/data/jsb/JSB_Chorales.mat}
MD=${MD:-${OUT:-.}/gpu.md}
export MUSICGEN_HOME=${MUSICGEN_HOME:-$(mktemp -d)}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
skip() { [[ " ${SKIP:-} " == *" $1 "* ]]; }
echo "== 1. CLI training on CUDA (adamw + focal, 3 epochs)"
$PY -m musicgen preprocess "$MAT" --out "$MUSICGEN_HOME/data/jsb" | tail -2
$PY -m musicgen train --data jsb --optimizer adamw --loss focal --epochs 3 --device cuda --json | tail -c 400; echo
$PY -m musicgen runs | tail -2
if ! skip 2; then
  echo "== 2. throughput: batch 32, 128 and the recipes' 8 and 4; auto, fp32, bf16"
  $PY benchmarks/train_speed.py --device cuda --epochs 3 --batches 32,128,8,4 --precisions auto,bf16 --mat "$MAT" --md "$MD"
fi
if ! skip 3; then
  echo "== 3. time to quality"
  $PY benchmarks/time_to_quality.py --device cuda --max-seconds ${TTQ_SECONDS:-45} --mat "$MAT" --md "$MD"
fi
if ! skip 4 && [ -f checkpoints/jsb/best.pt ]; then
  echo "== 4. shipped JSB checkpoint on the GPU"
  $PY -m musicgen benchmark jsb --mat "$MAT" --checkpoint jsb --device cuda
fi
if ! skip 5; then
  echo "== 5. bf16 against fp32: step time per head and width"
  $PY benchmarks/precision_speed.py --device cuda --widths 256,400,1024,2048 --mat "$MAT" --md "$MD"
fi
if ! skip 6; then
  echo "== 6. time to valid NLL <= 5.25, jsb-nade recipe, --precision auto"
  $PY benchmarks/time_to_quality.py --device cuda --recipe configs/jsb-nade.json --precision auto --target 5.25 \
    --max-seconds ${TTQ_NADE_SECONDS:-240} --no-reference --mat "$MAT" --md "$MD"
fi
if ! skip 7; then
  echo "== 7. precision parity of the shipped recipes, seeds 0-2"
  $PY benchmarks/recipe_parity.py --device cuda --seeds 0,1,2 --precisions auto,fp32,bf16 --parallel ${PARALLEL:-12} \
    --mat "$MAT" --md "$MD"
fi
if ! skip 8 && $PY -c "import ray.train" 2>/dev/null; then
  echo "== 8. Ray Train on the GPU: one worker (nccl), 2 epochs of the defaults"
  $PY -m musicgen train --data jsb --epochs 2 --device cuda --backend ray --workers 1 --json | tail -c 300; echo
  $PY -m musicgen runs | tail -1
fi
