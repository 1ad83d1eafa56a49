#!/usr/bin/env bash
# The whole codec before and after 3cd2db2 (the predictor's first-layer table held as int32 instead of int64),
# interleaved: for each round and domain, `nbmf bench` on 400 held-out records with nbmf/neural/{cm,codec}.py as
# they were before that commit, then as they are. Run from the repository root at 3cd2db2 or later, with a clean
# nbmf/ (the script puts it back with `git checkout -- nbmf` after each "old" run), alone on the machine.
#   bash bench/p_int32_ab.sh [REGISTRY] [ROUNDS]     (default out/trainpath-gf_wsd, 2; its domains general, financial)
set -euo pipefail
REG=${1:-out/trainpath-gf_wsd}
ROUNDS=${2:-2}
OUT=bench/results/p_int32_ab
mkdir -p $OUT
export RAY_USAGE_STATS_ENABLED=0
run() { # old|new DOMAIN ROUND
  if [ "$1" = old ]; then git diff 3cd2db2~1 3cd2db2 -- nbmf/neural/cm.py nbmf/neural/codec.py | git apply -R; fi
  .venv/bin/nbmf bench --data data/corpus/$2.jsonl --domain $2 --registry "$REG" --version 1 --max-test 400 --json \
    > $OUT/ab_$1_$2_$3.json 2> /dev/null || { git checkout -q -- nbmf; exit 1; }
  git checkout -q -- nbmf
}
for r in $(seq 1 "$ROUNDS"); do for d in financial general; do run old $d $r; run new $d $r; done; done
.venv/bin/python - "$OUT" <<'PY'
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("ab_*.json")):
    r = next(x for x in json.loads(f.read_text())["results"] if x["name"].startswith("nbmf"))
    print(f"{f.stem}: ratio {r['total_ratio']:.3f}  decode ms/KB p50 {r['decode_ms_per_kb_p50']:.2f} p95 {r['decode_ms_per_kb_p95']:.2f}"
          f"  encode p50 {r['encode_ms_per_kb_p50']:.2f} p95 {r['encode_ms_per_kb_p95']:.2f}")
PY
