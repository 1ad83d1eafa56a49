#!/bin/bash
# The kernel-reference fixture's wall time: before (the head's test file) and after, numba's cache warm (as in CI, where
# earlier tests compiled the kernel) and empty (NUMBA_CACHE_DIR a new folder).
cd /work/main
export RAY_USAGE_STATS_ENABLED=0
run() { local label=$1 file=$2; shift 2
  local t0=$(date +%s.%N)
  "$@" .venv/bin/python -m pytest -q -p no:cacheprovider "$file" -k compiled_step_equals --durations=1 2>&1 | grep -E "passed|failed|setup" | head -3
  echo "$label: $(echo "$(date +%s.%N) - $t0" | bc) s"; }
git show b2d4c99:tests/nbmf/neural/test_kernel.py > tests/nbmf/neural/test_kernel_before_tmp.py  # before: the s59 head
run "before, cache warm" tests/nbmf/neural/test_kernel_before_tmp.py env
run "after, cache warm" tests/nbmf/neural/test_kernel.py env
run "after, cache empty" tests/nbmf/neural/test_kernel.py env NUMBA_CACHE_DIR=$(mktemp -d)
rm tests/nbmf/neural/test_kernel_before_tmp.py
