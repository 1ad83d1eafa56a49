"""Migration benchmark: a generated memory-service warm store, models for its domains, `nbmf migrate` through Ray.

    python bench/migrate_bench.py [--records 10000] [--budget 60] [--reference-mb 2] [--workers N]

1. writes a warm store the way the service does (old stub blobs, a third sealed; tests/memory_store.py)
2. builds and promotes a model per domain with `nbmf build` (one machine, no Ray), trained on the
   store's own records collected by `nbmf collect` (the train split)
3. times `nbmf migrate --out` (Ray Data, one actor per CPU): records/s, bytes before/after per domain
Writes bench/results/migrate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the project first: tests/nbmf (a folder) must not shadow nbmf
sys.path.append(str(Path(__file__).parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).parent))

from results_io import save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of neural training per domain")
    ap.add_argument("--reference-mb", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--domains", default="legal,financial,general,technical")
    args = ap.parse_args()
    from memory_store import make_warm_store

    from jobs.migrate import MigrateConfig, run
    from nbmf.envelope import KEY_ENV

    os.environ.setdefault(KEY_ENV, "memory-test-key")
    work = Path(tempfile.mkdtemp(prefix="nbmf-migrate-bench-"))
    store, data, reg = work / "store", work / "nbmf", work / "nbmf"
    t0 = time.time()
    make_warm_store(store, n=args.records)
    nbmf = [sys.executable, "-m", "nbmf.cli"]
    subprocess.run([*nbmf, "collect", "--input", str(store), "--out", str(data), "--min-bytes", "50"], check=True, capture_output=True)
    built = {}
    for domain in args.domains.split(","):
        train = data / "datasets" / domain / "train"
        if not train.exists():
            continue
        jsonl = work / f"{domain}.jsonl"
        import pyarrow.parquet as pq

        rows = [r for f in sorted(train.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        jsonl.write_text("\n".join(json.dumps({"text": r["text"], "source": r["doc_key"]}) for r in rows))
        t = time.time()
        r = subprocess.run(
            [*nbmf, "build", "--data", str(jsonl), "--domain", domain, "--registry", str(reg), "--time-budget", str(args.budget),
             "--reference-mb", str(args.reference_mb), "--promote"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        built[domain] = {"version": json.loads(r.stdout)["version"], "train_records": len(rows), "build_s": round(time.time() - t, 1)}
        print(f"built {domain}: {built[domain]}", file=sys.stderr)
    out_root = work / "migrated"
    t = time.time()
    report = run(MigrateConfig(store=str(store), out=str(out_root), registry=str(reg), workers=args.workers))
    wall = time.time() - t
    save(
        "migrate",
        {
            "command": "python " + " ".join(sys.argv),
            "records": report["records"],
            "migrated": report["migrated"],
            "not_migrated": report["not_migrated"],
            "migrate_wall_s": round(wall, 1),
            "records_per_s": round(report["records"] / wall, 1),
            "blob_bytes_before": report["blob_bytes_before"],
            "blob_bytes_after": report["blob_bytes_after"],
            "blob_ratio": report["blob_ratio"],
            "file_bytes_before": report["file_bytes_before"],
            "file_bytes_after": report["file_bytes_after"],
            "by_model": report["by_model"],
            "by_domain": report["by_domain"],
            "models": built,
            "total_s": round(time.time() - t0, 1),
            "cpus": os.cpu_count(),
        },
    )


if __name__ == "__main__":
    main()
