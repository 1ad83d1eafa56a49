"""Memory under a load that cycles more model versions than the codec's cache holds.

    python bench/model_cache_bench.py [--versions 8] [--cache 2] [--table-bits 22] [--rounds 3]

Publishes ``--versions`` neural model versions (the committed golden weights, each primed on a
different reference, tables of 2^table-bits), then encodes and decodes a record with each version
in turn, ``--rounds`` times, through one ``NBMF(registry, cache_size=--cache)``: RSS after each
load is printed. Before issue #14 every primed state stayed in a process-wide dict (RSS grew with every
version ever loaded); now a state lives as long as a cached model holds it.
Writes bench/results/model_cache.json.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "golden"))
sys.path.insert(0, str(Path(__file__).parent))

from results_io import rss_mb, save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", type=int, default=8)
    ap.add_argument("--cache", type=int, default=2)
    ap.add_argument("--table-bits", type=int, default=22)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--old", action="store_true", help="the cache before issue #14 (a plain process-wide dict), for comparison")
    args = ap.parse_args()
    from make_golden_neural import HERE, texts

    from nbmf.codec import NBMF
    from nbmf.neural import codec as neural
    from nbmf.neural.codec import pack_files, unpack_files
    from nbmf.payload import Fidelity, PayloadType
    from nbmf.registry import Registry

    if args.old:
        neural._STATES = {}  # type: ignore[assignment]
    files = {p.name: p.read_bytes() for p in HERE.iterdir() if p.name in ("neural.safetensors", "reference.zst", "zstd.dict")}
    weights, reference, cm, use_neural = unpack_files(files)
    cm = cm.model_copy(update={"table_bits": args.table_bits, "match_bits": args.table_bits})
    reg = Registry(tempfile.mkdtemp(prefix="nbmf-cache-bench-"))
    for v in range(args.versions):
        ref = reference + b"\0" + b"".join(texts(100 + v, 20))  # a different priming per version
        man = reg.publish("golden", {**pack_files(weights, ref, cm, use_neural), "zstd.dict": files["zstd.dict"]})
        assert man.version == v + 1
    reg.promote("golden", 1)
    codec = NBMF(reg, cache_size=args.cache)
    record = texts(7, 1)[0].decode()
    base = rss_mb()
    samples = []
    t0 = time.time()
    for r in range(args.rounds):
        for v in range(1, args.versions + 1):
            model = codec.load("golden", v)
            frame = codec.encode_bytes(record.encode(), Fidelity.LOSSLESS, PayloadType.STR, model).frame
            assert codec.decode(frame) == record
            del model
            gc.collect()
            samples.append({"round": r, "version": v, "rss_mb": round(rss_mb(), 1), "primed_states": len(neural._STATES)})
            print(samples[-1], file=sys.stderr)
    save(
        "model_cache_old" if args.old else "model_cache",
        {
            "command": "python " + " ".join(sys.argv),
            "versions": args.versions,
            "cache_size": args.cache,
            "old_process_wide_cache": args.old,
            "table_bits": args.table_bits,
            "rss_mb_before_loads": round(base, 1),
            "rss_mb_max": max(s["rss_mb"] for s in samples),
            "rss_mb_last": samples[-1]["rss_mb"],
            "primed_states_max": max(s["primed_states"] for s in samples),
            "loads": len(samples),
            "seconds": round(time.time() - t0, 1),
            "samples": samples,
        },
    )


if __name__ == "__main__":
    main()
