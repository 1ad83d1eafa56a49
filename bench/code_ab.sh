#!/usr/bin/env bash
# The whole codec with nbmf/ as it was at FROM and as it is in the checkout (TO or later), interleaved: for each
# round and domain, `nbmf bench` on 400 held-out records with FROM's copy of the files FROM..TO changed under nbmf/,
# then with the checkout's. Run from the repository root with a clean nbmf/ (the
# script puts it back with `git checkout -- nbmf` after each "old" run), alone on the machine: it measures time.
#   bash bench/code_ab.sh FROM TO OUT [REGISTRY] [ROUNDS] [DOMAINS]
#   e.g. bash bench/code_ab.sh 3cd2db2~1 3cd2db2 bench/results/p_int32_ab      (the int32 table; 2 rounds)
# REGISTRY defaults to out/trainpath-gf_wsd (made by `bash bench/train_path_bench.sh gf_wsd "general financial"`),
# ROUNDS to 2, DOMAINS to "financial general". Frames must not change: each run's ratio is printed beside its times.
set -euo pipefail
FROM=$1 TO=$2 OUT=$3
REG=${4:-out/trainpath-gf_wsd}
ROUNDS=${5:-2}
DOMAINS=${6:-financial general}
mkdir -p "$OUT"
export RAY_USAGE_STATS_ENABLED=0
run() { # old|new DOMAIN ROUND
  if [ "$1" = old ]; then  # FROM's copy of each file TO changed (later edits to them, e.g. docstrings, go too)
    for f in $(git diff --name-only "$FROM" "$TO" -- nbmf); do git show "$FROM:$f" > "$f"; done
  fi
  .venv/bin/nbmf bench --data data/corpus/$2.jsonl --domain $2 --registry "$REG" --version 1 --max-test 400 --json \
    > "$OUT/ab_$1_$2_$3.json" 2> /dev/null || { git checkout -q -- nbmf; exit 1; }
  git checkout -q -- nbmf
}
for r in $(seq 1 "$ROUNDS"); do for d in $DOMAINS; do run old $d $r; run new $d $r; done; done
.venv/bin/python - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("ab_*.json")):
    r = next(x for x in json.loads(f.read_text())["results"] if x["name"].startswith("nbmf"))
    print(f"{f.stem}: ratio {r['total_ratio']:.3f}  decode ms/KB p50 {r['decode_ms_per_kb_p50']:.2f} p95 {r['decode_ms_per_kb_p95']:.2f}"
          f"  encode p50 {r['encode_ms_per_kb_p50']:.2f} p95 {r['encode_ms_per_kb_p95']:.2f}")
PY
