"""Does the core code held-out records better when its priming ends on text the predictor never trained on?

The reference a model is primed with is its train records (``select_reference``, in content-hash order), and the
predictor trained on the same records; the val split is in neither. This script takes a built model (its trained
weights and reference), primes the core again with the val records appended to the reference, and codes the bench's
held-out records (``nbmf bench``'s split, the first N) with and without the predictor. Payload bytes, no frame headers.

    python bench/reference_tail.py DOMAIN REGISTRY_DIR [N] [--order hash|bytes]

REGISTRY_DIR is a run of ``bench/train_path_bench.sh`` (out/trainpath-NAME: datasets and registry, version 1).
``--order``: the val records in content-hash order (as ``select_reference`` orders the reference) or sorted by bytes
(records of one layout together, so the priming ends on one kind of record). Writes bench/results/reference_tail_DOMAIN.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow.parquet as pq  # noqa: E402

from nbmf.bench import split_records  # noqa: E402
from nbmf.neural.build import select_reference  # noqa: E402
from nbmf.neural.cm import CMState  # noqa: E402
from nbmf.neural.codec import cm_config, unpack_files  # noqa: E402
from nbmf.payload import Fidelity, to_bytes  # noqa: E402
from nbmf.records import read_records  # noqa: E402
from nbmf.registry import Registry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("domain")
    ap.add_argument("registry")
    ap.add_argument("n", nargs="?", type=int, default=400)
    ap.add_argument("--order", choices=("hash", "bytes"), default="hash")
    ap.add_argument("--corpus", default="data/corpus")
    a = ap.parse_args()
    _, test = split_records(list(read_records(f"{a.corpus}/{a.domain}.jsonl")), 0)
    test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in test][: a.n]
    w, reference, cm, _ = unpack_files(Registry(a.registry).load_files(a.domain, 1)[1])
    val = [
        x.encode()
        for f in sorted(glob.glob(f"{a.registry}/datasets/{a.domain}/val/*.parquet"))
        for x in pq.read_table(f).column("text").to_pylist()
    ]
    overlap = set(val) & set(test_b)
    val = [v for v in val if v not in overlap]
    tail = select_reference(val, 1 << 40) if a.order == "hash" else b"\0".join(sorted(val))
    orig = sum(map(len, test_b))
    out: dict = {
        "domain": a.domain,
        "registry": a.registry,
        "order": a.order,
        "test_records": len(test_b),
        "test_bytes": orig,
        "reference_bytes": len(reference),
        "val_records": len(val),
        "val_bytes": len(tail),
        "val_in_test": len(overlap),
        "coded": {},
    }
    print(
        f"{a.domain}: reference {len(reference):,} B; val {len(val)} records, {len(tail):,} B ({len(overlap)} also in test, left out); "
        f"{len(test_b)} test records, {orig:,} B",
        flush=True,
    )
    for name, ref in (("reference", reference), ("reference + val", reference + b"\0" + tail)):
        for use_nn in (True, False):
            t0 = time.time()
            st = CMState.build(cm_config(cm), ref, w, use_nn, False)
            coded = sum(len(st.encode(d, max_out=2 * len(d) + 64)) for d in test_b)
            out["coded"][f"{name}, predictor {'on' if use_nn else 'off'}"] = coded
            print(
                f"  {name:16s} predictor {'on ' if use_nn else 'off'}: {coded:,} B, ratio {orig / coded:.4f} ({time.time() - t0:.0f} s)",
                flush=True,
            )
    c = out["coded"]
    for name in ("reference", "reference + val"):
        print(f"  {name}: the predictor's share {c[f'{name}, predictor off'] / c[f'{name}, predictor on'] - 1:+.2%}")
    Path(f"bench/results/reference_tail_{a.domain}{'' if a.order == 'hash' else '_bytes'}.json").write_text(
        json.dumps(out, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
