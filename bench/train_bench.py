# ruff: noqa: E501
"""Training throughput with Ray Train on CPU: tokens/s with 1 and 2 DDP workers (0.5 CPU reserved, 1 torch thread each).

python bench/train_bench.py [--steps 150]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from results_io import save


def _write_datasets():  # type: ignore[no-untyped-def]
    """tests/tests_support.py's helper, loaded by path (tests/ on sys.path would shadow the nbmf package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tests_support", Path(__file__).parents[1] / "tests" / "tests_support.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.write_datasets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--records-per-batch", type=int, default=None, help="TrainConfig.records_per_batch (default: its default)")
    ap.add_argument("--name", default="train", help="results file: bench/results/<name>.json")
    args = ap.parse_args()
    import ray

    from jobs.train import TrainConfig, run
    from nbmf.corpus import local_records

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(include_dashboard=False, log_to_driver=False)
    tmp = Path(tempfile.mkdtemp(prefix="train_bench"))
    try:
        _write_datasets()(tmp, {"technical": [r["text"] for r in local_records("technical", limit=3000)]})
        out = {"command": "python " + " ".join(sys.argv), "steps": args.steps, "cpus": ray.cluster_resources().get("CPU")}
        for workers in args.workers:
            cfg = TrainConfig.model_validate(
                {
                    "domains": ["technical"], "data": str(tmp), "registry": str(tmp / f"reg{workers}"), "run": f"bench{workers}",
                    "workers_per_domain": workers, "cpus_per_worker": 0.5, "use_gpu": args.gpu,  # 2 x 1.0 CPU would starve Ray Data
                    "eval_every": args.steps,
                    **({"records_per_batch": args.records_per_batch} if args.records_per_batch else {}),
                    "model": {"reference_bytes": 200_000, "neural": {"max_steps": args.steps, "time_budget_s": 600}, "cm": {"table_bits": 18, "match_bits": 18}},
                }
            )  # fmt: skip
            m = run(cfg, progress=lambda s: print(s, file=sys.stderr))["technical"]["train_metrics"]
            out[f"workers_{workers}_tokens_per_s"] = round(m["tokens_per_s_per_worker"] * m["world_size"])  # wall clock
            out[f"workers_{workers}_step_tokens_per_s"] = round(m["step_tokens_per_s_per_worker"] * m["world_size"])
            out[f"workers_{workers}_end_to_end_share"] = round(m["tokens_per_s_per_worker"] / m["step_tokens_per_s_per_worker"], 3)
            out[f"workers_{workers}_seconds"] = {
                k: round(float(m[k]), 2) for k in ("wall_s", "step_s", "data_s", "first_batch_s", "eval_s") if k in m
            }
        if {1, 2} <= set(args.workers):
            out["speedup_2_vs_1"] = round(out["workers_2_tokens_per_s"] / out["workers_1_tokens_per_s"], 2)
            out["step_speedup_2_vs_1"] = round(out["workers_2_step_tokens_per_s"] / out["workers_1_step_tokens_per_s"], 2)
        save(args.name, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
