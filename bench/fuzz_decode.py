"""Long decode fuzz run: ``python bench/fuzz_decode.py [N] [SEED]``; prints how many frames it tried."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "nbmf"))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "golden"))
from test_fuzz import fuzz  # noqa: E402

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    t0 = time.time()
    tried = fuzz(n, seed)
    print(f"fuzz_decode: {tried} frames tried, 0 non-NBMFError exceptions, {time.time() - t0:.1f} s (seed {seed})")
