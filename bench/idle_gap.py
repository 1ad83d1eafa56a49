"""In-process decode latency with idle gaps between calls (what a served codec sees between requests).

python bench/idle_gap.py --registry /tmp/regbench --domain legal
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from results_io import save


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--data", default="data/corpus")
    args = ap.parse_args()
    from nbmf.bench import split_records
    from nbmf.codec import NBMF
    from nbmf.records import read_records

    _, test = split_records(list(read_records(f"{args.data}/{args.domain}.jsonl")))
    codec = NBMF(args.registry)
    frames = [codec.encode(r.value, domain=args.domain) for r in test]
    out: dict[str, float] = {}
    for gap_ms in (0, 5, 20, 0, 20):
        lat = []
        for f in frames:
            if gap_ms:
                time.sleep(gap_ms / 1e3)
            s = time.perf_counter()
            codec.decode(f)
            lat.append(1e3 * (time.perf_counter() - s))
        out.setdefault(f"decode_p50_ms_gap_{gap_ms}_ms", round(statistics.median(lat), 2))
        print(f"idle gap {gap_ms:>2} ms: decode p50 {statistics.median(lat):.2f} ms", file=sys.stderr)
    save(f"idle_gap_{args.domain}", {"command": "python " + " ".join(sys.argv), **out})


if __name__ == "__main__":
    main()
