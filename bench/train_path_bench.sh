#!/usr/bin/env bash
# The documented training path, measured (issue #15): `nbmf collect` + `nbmf train --time-budget 180` (Ray Train,
# both domains at once) + `nbmf bench` on 400 held-out records of each.
# (the bench times every record three times: the first and the best of three are reported, BENCHMARKS "Timing rounds")
# Usage: [PPMD=1] bench/train_path_bench.sh NAME [DOMAINS] [extra `nbmf train` flags]   (PPMD=1: also PPMd primed on the train split)
# Writes out/trainpath-NAME (datasets, runs, registry) and bench/results/trainpath_NAME_{train.txt,DOMAIN.json,DOMAIN.log}.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=$1
DOMAINS=${2:-financial general}
shift $(( $# > 1 ? 2 : 1 ))
B=.venv/bin
PPMD_FLAG=$([ "${PPMD:-0}" = 1 ] && echo --ppmd || echo --no-ppmd)
R=out/trainpath-$NAME
export RAY_USAGE_STATS_ENABLED=0
rm -rf "$R"
inputs=()
for d in $DOMAINS; do
  [ -f data/corpus/$d.jsonl ] || $B/nbmf corpus --out data/corpus --domains $d
  inputs+=(--input data/corpus/$d.jsonl)
done
$B/nbmf collect "${inputs[@]}" --out "$R"
$B/nbmf train --domains "$(echo $DOMAINS | tr ' ' ,)" --data "$R" --registry "$R" --time-budget 180 "$@" \
  > bench/results/trainpath_${NAME}_train.txt 2>&1
for d in $DOMAINS; do
  $B/nbmf bench --data data/corpus/$d.jsonl --domain $d --registry "$R" --version 1 --max-test 400 $PPMD_FLAG --timing-rounds 3 --json \
    > bench/results/trainpath_${NAME}_$d.json 2> bench/results/trainpath_${NAME}_$d.log
done
.venv/bin/python bench/train_metrics.py "$R/runs" > bench/results/trainpath_${NAME}_metrics.txt
