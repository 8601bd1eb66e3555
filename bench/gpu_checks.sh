#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one run: the CUDA tests, training memory against the allocator,
# training on the GPU (AMP, channels_last, torch.compile) and the time to 94%, and cnnstat bench.
# Usage: DATA=folder-with-fashion-mnist LOG=folder-for-logs [RUNS=folder-for-run-folders] bash bench/gpu_checks.sh
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:?name the folder with the Fashion-MNIST IDX files}
LOG=${LOG:-runs/gpu-checks}  # under the checkout (runs/ is not tracked) unless LOG names another folder
RUNS=${RUNS:-$LOG/runs}
mkdir -p "$LOG" "$RUNS"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep going whatever it ends with
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s)"
  local began=$SECONDS
  timeout "$limit" "$@" >"$LOG/$name.log" 2>&1
  local status=$?
  tail -n 25 "$LOG/$name.log"
  echo "=== $name: exit $status after $((SECONDS - began)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
step tests 180 $PY -m pytest -q -p no:cacheprovider -rs tests/test_train.py tests/test_bench.py -k "cuda or fp16 or gpu"
step memory 80 $PY bench/training_memory.py --batch 32
step fast 80 $PY -m cnnstat train fashion-fast --device cuda --data "$DATA" --out "$RUNS/fast"
step best-45s 90 $PY -m cnnstat train fashion-vgg --recipe best --time-budget 45s --device cuda --data "$DATA" --out "$RUNS/best45"
step best-90s 130 $PY -m cnnstat train fashion-vgg --recipe best --time-budget 90s --device cuda --data "$DATA" --out "$RUNS/best90"
step bench 60 $PY -m cnnstat bench resnet50 --device cuda --batch-size 1,64 --amp --channels-last --min-time 1
for run in fast best45 best90; do
  [ -f "$RUNS/$run/metrics.json" ] && $PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
f = d['final']
print(sys.argv[2], 'epochs', len(d['epochs']), 'chosen', f['epoch'], 'val', f['val_acc'], 'test', f['test_acc'],
      'train seconds', round(sum(e['seconds'] for e in d['epochs']), 1), 'device', d['device'])
" "$RUNS/$run/metrics.json" "$run"
done
