#!/usr/bin/env bash
# A fresh process, registry -> loaded -> first encode -> first decode, the node's primed state on disk, numba's cache
# empty (a fresh node or image) and filled by `nbmf compile-kernel`. Usage: bash cold_kernel.sh TREE DOMAIN REGISTRY TAG
set -euo pipefail
tree=$1 dom=$2 reg=$3 tag=$4
py=/work/main/.venv/bin/python
cd "$tree"
run() { PYTHONPATH="$tree" NUMBA_CACHE_DIR="$1" "$py" /work/main/bench/results/s59/load_time.py.txt "$dom" "$reg" | tail -1; }
echo "== $tag: $(git -C "$tree" rev-parse --short HEAD) $(git -C "$tree" status --short | wc -l) changed files"
run /tmp/s59/nc_fill_$tag >/dev/null   # the node's primed state for this code (compiles into a throwaway cache)
rm -rf /tmp/s59/nc_$tag
echo "numba cache empty:"; run /tmp/s59/nc_$tag
echo "the same cache, next process:"; run /tmp/s59/nc_$tag
if [ "$tag" != old ]; then
  rm -rf /tmp/s59/nc_$tag
  echo "nbmf compile-kernel into an empty cache:"; (cd "$tree" && PYTHONPATH="$tree" NUMBA_CACHE_DIR=/tmp/s59/nc_$tag /usr/bin/time -f "%e s wall" "$py" -m nbmf.cli compile-kernel 2>&1)
  echo "then a fresh process:"; run /tmp/s59/nc_$tag
fi
