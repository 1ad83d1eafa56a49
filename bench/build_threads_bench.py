"""A build's primings one at a time or at once: wall time, peak memory, and the files (fifty-third session).

    python bench/build_threads_bench.py DOMAIN REGISTRY THREADS [--json OUT]

Builds a model version of DOMAIN as ``nbmf train``'s build task does (``build_files`` with the predictor of REGISTRY's
version 1 of DOMAIN, already trained, so every run builds from the same weights) on the train / val split of
data/corpus/DOMAIN.jsonl, with ``threads`` primings at once. Prints the build's wall time, this process's peak RSS and
a sha256 over the files, which must be the same for every THREADS. Run each THREADS in its own process (the peak RSS is
the process's), alone on the machine.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time

from nbmf.config import ModelConfig
from nbmf.neural.build import build_files, split_bytes
from nbmf.neural.codec import unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def main() -> None:
    domain, registry, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sp = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))
    weights = unpack_files(Registry(registry).load_files(domain, 1)[1])[0]
    t0 = time.perf_counter()
    files, metrics = build_files(sp["train"], sp["val"], ModelConfig(), weights, lambda s: print(" ", s, flush=True), threads)
    wall = time.perf_counter() - t0
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name])
    out = {
        "command": "python " + " ".join(sys.argv),
        "domain": domain,
        "threads": threads,
        "build_s": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "files_sha256": h.hexdigest(),
        "order_sets_bytes": metrics.get("order_sets_bytes"),
    }
    print(json.dumps(out), flush=True)
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
