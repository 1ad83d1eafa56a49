# Two set-up commands for a fresh machine (see README):  make demo   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install bench

$(BIN)/nbmf: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first (from local disk here), so the project's torch range pulls no CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/nbmf

install: $(BIN)/nbmf

demo: install
	$(BIN)/nbmf demo

test: install
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/python -m pytest -q --durations=15

lint: install
	$(BIN)/ruff check nbmf jobs serve tests bench
	$(BIN)/ruff format --check nbmf jobs serve tests bench
	$(BIN)/mypy

# the CPU figures of BENCHMARKS.md's codec sections (the whole not timed since the compute curve changed): codecs without a model,
# each of the four built-in domains' neural model against zstd+dict and primed PPMd (with the ablations), the
# compute curve (1x, 4x, 16x the training tokens; financial and general, each point built as `nbmf train` builds
# and measured against its own ablation since the fifty-third session: 13 and 56 minutes there, other work beside)
bench: install
	$(BIN)/python bench/codec_bench.py --domains financial,general,technical,legal
	bash bench/neural_bench.sh 300 out/bench-registry
	for d in financial general; do $(BIN)/python bench/compute_curve.py --domain $$d --product --records 400 || exit 1; done
