#!/usr/bin/env bash
# GPU smoke test of the train job: collect a small technical set, train it on one GPU with an
# injected worker failure (the run must resume from its checkpoint on the GPU), build the integer
# model in a CPU-only Ray task, publish. Also checks the two torch behaviours the job relies on.
#
#   bash bench/gpu_smoke.sh [WORKDIR]        (needs CUDA and the project installed; ~3 min)
set -euo pipefail
W=${1:-/tmp/nbmf_gpu_smoke}
rm -rf "$W" && mkdir -p "$W"
export RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

echo "== torch: a GPU run's checkpoint in a CPU-only process, and Adam resumed across devices"
$PY - "$W" <<'PY'
import os, subprocess, sys, torch
w = sys.argv[1]
m = torch.nn.Linear(4, 4).cuda()
opt = torch.optim.Adam(m.parameters())
m(torch.ones(2, 4, device="cuda")).sum().backward(); opt.step()
torch.save({"model": m.state_dict(), "opt": opt.state_dict()}, f"{w}/state.pt")
probe = "import torch, sys; torch.load(sys.argv[1], weights_only=True{}); print('loaded')"
for kw in ("", ", map_location='cpu'"):
    r = subprocess.run([sys.executable, "-c", probe.format(kw), f"{w}/state.pt"], env=dict(os.environ, CUDA_VISIBLE_DEVICES=""), capture_output=True, text=True)
    print(f"  CPU-only load{kw or ' (no map_location)'}:", r.stdout.strip() or r.stderr.strip().splitlines()[-1][:160])
state = torch.load(f"{w}/state.pt", map_location="cpu", weights_only=True)
for order in ("opt state loaded before the move to GPU", "opt state loaded after the move to GPU"):
    n = torch.nn.Linear(4, 4); o = torch.optim.Adam(n.parameters()); n.load_state_dict(state["model"])
    if order.endswith("before the move to GPU"):
        o.load_state_dict(state["opt"]); n.cuda()
    else:
        n.cuda(); o.load_state_dict(state["opt"])
    try:
        n(torch.ones(2, 4, device="cuda")).sum().backward(); o.step(); print(f"  {order}: step ok")
    except Exception as e:  # noqa: BLE001
        print(f"  {order}: {type(e).__name__}: {str(e)[:120]}")
PY

echo "== collect (builtin technical, 6000 records)"
$PY -m jobs.collect --input builtin:technical --out "$W/nb" --cap 6000 2>&1 | grep -v "WARNING\|INFO" | tail -4

echo "== train on the GPU, a worker failure injected at step 250 (checkpoints every 100)"
cat > "$W/train.json" <<JSON
{"domains": ["technical"], "data": "$W/nb", "registry": "$W/nb", "use_gpu": true, "workers_per_domain": 1,
 "cpus_per_worker": 2, "eval_every": 100, "inject_failure_at_step": 250,
 "model": {"reference_bytes": 1048576, "neural": {"max_steps": 600, "time_budget_s": 120, "batch_size": 4096}}}
JSON
$PY -m jobs.train --config "$W/train.json" 2>&1 | grep -E "training|trained|resum|injected|published|building|Error|error|\{|\}|\"" | grep -v "^.*WARNING" | tail -30
$PY - "$W/nb" <<'PY'
import json, sys
from nbmf.registry import Registry
reg = Registry(sys.argv[1])
for v in reg.versions("technical"):
    m = reg.manifest("technical", v).metrics
    print("registry technical@%s:" % v, {k: m.get(k) for k in ("train_step", "train_resumed_from_step", "train_world_size", "val_bpb_neural", "val_bpb_zstd_dict", "val_exact")})
PY
