"""Long structure-aware decode fuzz (tests/nbmf/test_fuzz.py's generator):

    python bench/fuzz_decode.py [N=1000000] [SEED=0] [NEURAL_FORMAT=1]

Every codec's frames with mutated payloads and lengths, old stub and nbmf blobs with mutated fields,
nested JSON, surrogates. Reports inputs, decoded / refused counts, untyped errors (must be 0), the
slowest case, and peak RSS; writes bench/results/fuzz_decode.json. NEURAL_FORMAT 9: the golden neural
model of format 9, whose frames carry no length (frame version 4); writes fuzz_decode_format9.json.
"""

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "nbmf"))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "golden"))
sys.path.insert(0, str(Path(__file__).parent))
from results_io import save  # noqa: E402
from test_fuzz import fuzz, make_codec  # noqa: E402

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    neural_format = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    codec = make_codec(neural_format=neural_format)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    slowest = [0.0]

    def track(elapsed: float) -> None:
        slowest[0] = max(slowest[0], elapsed)

    t0 = time.time()
    counts = fuzz(n, seed, codec, track)  # raises on an untyped error or a case over 2 s
    save(
        "fuzz_decode" if neural_format == 1 else f"fuzz_decode_format{neural_format}",
        {
            "command": "python " + " ".join(sys.argv),
            **counts,
            "untyped_errors": 0,
            "seconds": round(time.time() - t0, 1),
            "slowest_case_ms": round(slowest[0] * 1000, 2),
            "max_record_bytes": codec.max_record_bytes,
            "peak_rss_mb_after_setup": round(rss0 / 1024, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
    )
