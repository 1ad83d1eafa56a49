"""Memory of one replica that holds each domain's production model, and the load time of each.

    python bench/replica_rss.py REGISTRY [NAME]
In one fresh process (as a serving replica): ``NBMF(registry)``, then for each domain in turn the first
held-out record of data/corpus/<domain>.jsonl is encoded and decoded (the model is read from the
registry, sha256-checked, its primed state read from this node's cache or primed), and the process's
RSS is read after each. Fill the node's primed-state cache first (any earlier load of the same versions
with the same code does, e.g. ``bash bench/neural_bench.sh - REGISTRY``) to measure a warm replica.
Writes bench/results/NAME.json (default replica_rss).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from results_io import rss_mb, save  # noqa: E402

from nbmf.codec import NBMF  # noqa: E402
from nbmf.neural.build import split_bytes  # noqa: E402
from nbmf.records import read_records  # noqa: E402
from nbmf.registry import Registry  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    registry = Registry(sys.argv[1])
    codec = NBMF(registry)
    out: dict[str, object] = {"registry": sys.argv[1], "rss_mb_before": round(rss_mb()), "domains": {}}
    for domain in registry.domains():
        record = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))["test"][0].decode()
        t = time.perf_counter()
        enc = codec.encode_record(record, domain=domain)
        if codec.decode(enc.frame) != record:
            sys.exit(f"{domain}: the record did not come back exactly")
        out["domains"][domain] = {  # type: ignore[index]
            "version": registry.channels(domain).production,
            "codec": int(enc.codec),
            "load_encode_decode_s": round(time.perf_counter() - t, 2),
            "rss_mb_after": round(rss_mb()),
        }
        print(domain, out["domains"][domain], file=sys.stderr, flush=True)  # type: ignore[index]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    save(sys.argv[2] if len(sys.argv) > 2 else "replica_rss", out)
