#!/usr/bin/env bash
# The train job on one GPU, measured (issue #15, "the GPU path"): `nbmf train --config configs/train_gpu.yaml` on a
# collected dataset, one worker on the GPU. It reports the job's end-to-end tokens/s against its steps' own, and hands
# back the run's best weights so the integer model can be built and benchmarked on a CPU machine (the build is a
# CPU-only Ray task; on 2 cores it takes ~10 minutes, more than a lent GPU's session has to spare).
#
#   [CONFIG=configs/train_gpu.yaml] bash bench/gpu_train_path.sh DATA_ROOT DOMAIN BUDGET_S OUTDIR
#
# DATA_ROOT holds datasets/DOMAIN/{train,val} (what `nbmf collect` wrote). The job is stopped once training ends and
# the build starts; OUTDIR gets train.log (the job's progress and the GPU's utilization), snapshot.json (Ray Train's
# checkpoint manager snapshot: the last reported metrics), config.json (the run's config) and best.pt.part-* (the
# best weights, float32, split in 15 MiB parts: `cat best.pt.part-* > best.pt`). Then, on the CPU machine:
#   python bench/gpu_build.py best.pt config.json DATA_ROOT DOMAIN REGISTRY     (build + publish, as the job does)
set -uo pipefail
DATA=$1 DOMAIN=$2 BUDGET=$3 O=$4
W=$(mktemp -d /tmp/nbmf_gpu.XXXX)
mkdir -p "$O"
export RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
LOG=$O/train.log
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$W/smi.csv" 2>&1 &
SMI=$!
setsid $PY -m nbmf.cli train --config "${CONFIG:-configs/train_gpu.yaml}" --domains "$DOMAIN" --data "$DATA" --registry "$W/reg" \
  --time-budget "$BUDGET" > "$LOG" 2>&1 &
JOB=$!
t0=$(date +%s)
while kill -0 $JOB 2>/dev/null; do
  grep -q "building the integer model" "$LOG" && break
  [ $(( $(date +%s) - t0 )) -gt $(( BUDGET + 240 )) ] && { echo "gpu_train_path: no end of training after $((BUDGET + 240)) s" >> "$LOG"; break; }
  sleep 2
done
echo "gpu_train_path: training ended after $(( $(date +%s) - t0 )) s (job launch to build start)" >> "$LOG"
kill -- -$JOB 2>/dev/null; kill $SMI 2>/dev/null
run=$(ls -d "$W"/reg/runs/"$DOMAIN"-* 2>/dev/null | head -1)
ckpt=$(find "$run" -maxdepth 1 -type d -name "checkpoint_*" 2>/dev/null | sort | tail -1)
if [ -z "$ckpt" ]; then
  echo "gpu_train_path: no checkpoint under $W/reg/runs" >> "$LOG"
  tail -n 40 /tmp/ray/session_latest/logs/worker-*.err 2>/dev/null | tail -n 80 >> "$LOG"
  exit 1
fi
cp "$run/checkpoint_manager_snapshot.json" "$O/snapshot.json"
cp "$ckpt/config.json" "$O/config.json"
$PY -c "import sys, torch; s = torch.load(sys.argv[1], map_location='cpu', weights_only=True); torch.save(s['best_model'], sys.argv[2])" \
  "$ckpt/state.pt" "$W/best.pt"
split -b 15m "$W/best.pt" "$O/best.pt.part-"
sha256sum "$W/best.pt" >> "$LOG"
{ echo "== GPU utilization (every 5 s)"; cat "$W/smi.csv"; } >> "$LOG"
echo "gpu_train_path: done" >> "$LOG"
