#!/usr/bin/env bash
# The shard cache measured (nbmf train's ShardCache): one domain's first RECORDS records collected, then trained twice
# for the same 60 s budget, with shard_cache_mb 0 (every pass through Ray Data) and 1024 (the default: the passes after
# the first from each worker's memory). A small predictor (context 8, hidden 32) and a small shard, so that the budget
# holds several passes.
# Usage: bench/shard_cache_bench.sh NAME DOMAIN [RECORDS, default 400]      (needs data/corpus: `nbmf corpus --out data/corpus`)
# Writes out/shardcache-NAME/ and bench/results/shardcache_NAME.txt (the last metrics of each run).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=$1 DOMAIN=$2 RECORDS=${3:-400}
export RAY_USAGE_STATS_ENABLED=0
W=out/shardcache-$NAME
OUT=bench/results/shardcache_$NAME.txt
rm -rf "$W" && mkdir -p "$W"
head -n "$RECORDS" "data/corpus/$DOMAIN.jsonl" > "$W/records.jsonl"
.venv/bin/nbmf collect --input "$W/records.jsonl" --out "$W/data" > "$W/collect.log" 2>&1
: > "$OUT"
for mb in 0 1024; do
  printf 'shard_cache_mb: %s\neval_every: 1000000\nmodel:\n  neural:\n    context: 8\n    hidden: 32\n    max_steps: 1000000\n' "$mb" > "$W/c$mb.yaml"
  .venv/bin/nbmf train --config "$W/c$mb.yaml" --domains "$DOMAIN" --data "$W/data" --registry "$W/reg$mb" --time-budget 60 > "$W/train$mb.log" 2>&1
  echo "shard_cache_mb $mb: $(.venv/bin/python bench/train_metrics.py "$W/reg$mb/runs")" >> "$OUT"
done
cat "$OUT"
