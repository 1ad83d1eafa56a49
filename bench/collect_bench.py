"""Collect throughput: 100K records through the Ray Data job vs a bare pyarrow read of the same files.

python bench/collect_bench.py [--records 100000]

Beside the bare read it times:
- the job's own work without Ray, in this one process (shape, select, write Parquet): what Ray Data
  adds on top of the work itself;
- Ray Data's own ``read_json`` of the same files (what Ray Data costs before any of the job's work),
  with Ray Data's defaults and with the job's setting (no per-operator reservation);
- the job twice on one local Ray: cold (the first run, in a fresh driver on a fresh cluster: worker
  processes start and import Ray Data, Ray Data starts its actors; closest to one ``ray job submit``,
  as Ray workers are not shared between jobs) and warm (a rerun with --force in the same driver: the
  library in a long-lived process).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from results_io import save

from nbmf.corpus import local_records


def make_inputs(root: Path, n: int) -> int:
    """``n`` unique records (~1 KB) from the built-in corpus, in 10 JSONL files; returns total bytes."""
    root.mkdir(parents=True, exist_ok=True)
    base = [r for d in ("technical", "legal") for r in local_records(d, min_bytes=200, max_bytes=1500)]
    files = [open(root / f"part-{i}.jsonl", "w", encoding="utf-8") for i in range(10)]
    total = 0
    for i in range(n):
        r = base[i % len(base)]
        row = {
            "id": f"r{i}",
            "domain": r["domain"],
            "source": f"{r['source']}#{i // len(base)}",
            "text": f"{r['text']}\n# copy {i // len(base)}",
        }
        line = json.dumps(row, ensure_ascii=False) + "\n"
        files[i % 10].write(line)
        total += len(line.encode())
    for f in files:
        f.close()
    return total


def same_work_one_process(inp: Path, out: Path, cap: int) -> int:
    """The job's work without Ray: shape each file, select, write Parquet by (domain, split), in this
    process (pyarrow's own threads for the write). The yardstick for what Ray Data adds."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pds

    from jobs.collect import DROPPED
    from nbmf.selection import KEY_COLUMNS, select_records
    from nbmf.shaping import shape_file

    table = pa.concat_tables([shape_file(str(p), p.read_bytes(), None, 200, 4096, 0, 0.05, 0.1) for p in sorted(inp.glob("*.jsonl"))])
    sel = select_records(table.select(KEY_COLUMNS), 200, 4096, cap)
    if sel.kept.num_rows < table.num_rows:
        table = table.filter(pc.is_in(table.column("rid"), value_set=sel.kept.column("rid").combine_chunks()))
    pds.write_dataset(table.drop_columns(DROPPED), out, format="parquet", partitioning=["domain", "split"], partitioning_flavor="hive")
    return int(sel.kept.num_rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    import pyarrow.json as pj
    import ray

    from jobs.collect import CollectConfig, run, without_operator_reservation

    tmp = Path(tempfile.mkdtemp(prefix="collect_bench"))
    try:
        nbytes = make_inputs(tmp / "in", args.records)
        t0 = time.perf_counter()
        rows = sum(pj.read_json(p).num_rows for p in sorted((tmp / "in").glob("*.jsonl")))
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        one_process_kept = same_work_one_process(tmp / "in", tmp / "one_process", args.records)
        one_process = time.perf_counter() - t0
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(include_dashboard=False, object_store_memory=2 << 30, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        runs = []
        for force in (False, True):
            t0 = time.perf_counter()
            cfg = CollectConfig(inputs=[str(tmp / "in")], out=str(tmp / "out"), cap=args.records, force=force)
            man = run(cfg, progress=lambda s: print(s, file=sys.stderr))
            runs.append((time.perf_counter() - t0, man))
        t0 = time.perf_counter()
        ray_read_rows = ray.data.read_json(str(tmp / "in")).materialize().count()
        ray_read = time.perf_counter() - t0
        with without_operator_reservation():  # the job's Ray Data setting (see jobs/collect.py)
            ds = ray.data.read_json(str(tmp / "in"))
        t0 = time.perf_counter()
        ds.materialize()
        ray_read_job_ctx = time.perf_counter() - t0
        (cold, man), (warm, man_warm) = runs
        kept = sum(d["records"] for d in man["domains"].values())
        out = {
            "command": "python " + " ".join(sys.argv),
            "records": rows,
            "input_mb": round(nbytes / 1e6, 1),
            "bare_pyarrow_read_s": round(bare, 2),
            "bare_records_per_s": round(rows / bare),
            "same_work_one_process_s": round(one_process, 2),
            "same_work_one_process_kept": one_process_kept,
            "ray_data_read_json_s": round(ray_read, 2),
            "ray_data_read_json_rows": ray_read_rows,
            "ray_data_read_json_no_reservation_s": round(ray_read_job_ctx, 2),
            "collect_cold_s": round(cold, 2),
            "collect_cold_stage_s": man["stage_seconds"],
            "collect_warm_s": round(warm, 2),
            "collect_warm_stage_s": man_warm["stage_seconds"],
            "collect_warm_records_per_s": round(rows / warm),
            "collect_warm_mb_per_s": round(nbytes / 1e6 / warm, 2),
            "collect_cold_records_per_s": round(rows / cold),
            "collect_cold_mb_per_s": round(nbytes / 1e6 / cold, 2),
            "collect_warm_vs_bare": round(bare / warm, 3),
            "collect_cold_vs_bare": round(bare / cold, 3),
            "collect_warm_vs_one_process": round(one_process / warm, 3),
            "collect_cold_vs_one_process": round(one_process / cold, 3),
            "ray_data_read_json_vs_bare": round(bare / ray_read, 3),
            "ray_data_read_json_no_reservation_vs_bare": round(bare / ray_read_job_ctx, 3),
            "kept_records": kept,
            "counts": man["counts"],
        }
        save("collect" if args.records == 100_000 else f"collect_{args.records // 1000}k", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
