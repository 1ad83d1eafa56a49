"""Codec benchmark on the built-in corpus (real text of this machine), held out by source document.

    python bench/codec_bench.py [--domains technical,legal] [--max-test 500] [--ppmd] [--registry URI]
Writes bench/results/codec_<domain>.json and prints one table per domain.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from nbmf.bench import format_table, run_bench
from nbmf.corpus import available_domains, local_records
from nbmf.records import record_from_row
from nbmf.registry import Registry

OUT = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domains", default="technical,legal")
    ap.add_argument("--max-test", type=int, default=500)
    ap.add_argument("--limit", type=int, default=None, help="records per domain read at most")
    ap.add_argument("--ppmd", action="store_true", help="also measure PPMd primed on the train split")
    ap.add_argument("--registry", default=None, help="measure the domain's production model from this registry")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"built-in corpus on this machine (source documents): {available_domains()}")
    for domain in args.domains.split(","):
        t0 = time.time()
        recs = [record_from_row(r, "corpus") for r in local_records(domain, args.limit)]
        if not recs:
            print(f"{domain}: no source text on this machine, skipped")
            continue
        reg = Registry(args.registry) if args.registry else None
        report = run_bench(recs, domain, reg, max_test=args.max_test, ppmd=args.ppmd, progress=lambda s: print(s, file=sys.stderr))
        saved = report.model_dump(mode="json") | {"command": "python " + " ".join(sys.argv), "seconds": round(time.time() - t0, 1)}
        (OUT / f"codec_{domain}.json").write_text(json.dumps(saved, indent=2) + "\n")
        print(format_table(report) + "\n")


if __name__ == "__main__":
    main()
