#!/usr/bin/env bash
# Full neural-codec benchmark: build each built-in domain's model (train split only), then measure
# every codec on the held-out test split.  Usage: bench/neural_bench.sh [NN_SECONDS] [REGISTRY] [DOMAINS]
# NN_SECONDS "-": build nothing, measure the registry's production models (e.g. after a frame change).
set -euo pipefail
cd "$(dirname "$0")/.."
NN_SECONDS=${1:-300}
REG=${2:-out/bench-registry}
DOMAINS=${3:-financial general legal technical}
BIN=.venv/bin
mkdir -p bench/results data
for d in $DOMAINS; do
  [ -f data/corpus/$d.jsonl ] || $BIN/nbmf corpus --out data/corpus --domains $d
  [ "$NN_SECONDS" = "-" ] || $BIN/nbmf build --data data/corpus/$d.jsonl --domain $d --registry "$REG" --time-budget "$NN_SECONDS" --promote \
    > bench/results/build_$d.json 2> bench/results/build_$d.log
  $BIN/nbmf bench --data data/corpus/$d.jsonl --domain $d --registry "$REG" --ppmd --max-test 400 --timing-rounds 3 --json \
    > bench/results/neural_$d.json 2> bench/results/neural_$d.log
  $BIN/python -c "import sys; from nbmf.bench import BenchReport, format_table; print(format_table(BenchReport.model_validate_json(open(sys.argv[1]).read())))" \
    bench/results/neural_$d.json
done
