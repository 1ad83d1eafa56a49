"""Autoscaling on local Serve: load ramps until 3 replicas run, then drops until 1 is left.

    python bench/autoscale_bench.py [--up-to 3] [--deadline 240]

The endpoint is colocated (the Ingress replicas code), autoscaled 1..--up-to replicas of 0.5 CPU each,
target 1 request in flight per replica; the model is a primed context-mixing model (1 MiB reference, as
tests/serve/test_operations.py builds). Every request is timed at the client; a record of (time, op,
latency, ok, fallback) and the running replicas over time go to bench/results/autoscale.json, the
latency-over-time plot to bench/results/autoscale.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]

from results_io import RESULTS, save  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


def local_ray(prefix: str) -> tuple[list[str], str, int]:
    """A local Ray (2 CPUs, a small object store), a fresh primed-state cache and ``small_model``'s
    registry in a new temporary directory, and a free loopback port: (texts, registry, port)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["NBMF_PRIMED_CACHE"] = str(tmp / "primed")
    import ray
    from tests_support import free_ports

    texts, reg = small_model(tmp)
    (port,) = free_ports(1)
    ray.init(num_cpus=2, object_store_memory=300 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    return texts, reg, port


def small_model(tmp: Path) -> tuple[list[str], str]:
    """The technical records of the built-in corpus and a registry under ``tmp`` whose production
    version is a primed context-mixing model (1 MiB reference, as tests/serve/test_operations.py builds)."""
    from nbmf.config import CMParams, ModelConfig
    from nbmf.corpus import local_records
    from nbmf.neural.build import build_files
    from nbmf.registry import Registry

    texts = [r["text"] for r in local_records("technical", limit=700)]
    cfg = ModelConfig(use_neural=False, reference_bytes=1 << 20, dict_bytes=4096, cm=CMParams(table_bits=18, match_bits=18))
    files, _ = build_files([t.encode() for t in texts[:600]], [t.encode() for t in texts[600:650]], cfg)
    reg = Registry(str(tmp / "reg"))
    reg.publish("technical", files, config=cfg.model_dump(mode="json"))
    reg.promote("technical", 1)
    return texts, str(tmp / "reg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--up-to", type=int, default=3)
    ap.add_argument("--deadline", type=float, default=240)
    ap.add_argument("--pace", type=float, default=0.0, help="a client thread starts a pair at most every PACE s (0: back to back)")
    ap.add_argument("--look-back", type=float, default=None, help="the autoscaler's look_back_period_s (default: Serve's)")
    ap.add_argument("--step", type=float, default=3.0, help="seconds between added client threads")
    ap.add_argument("--max-threads", type=int, default=8)
    ap.add_argument("--target", type=float, default=1.0, help="target_ongoing_requests per replica")
    ap.add_argument("--name", default="autoscale", help="results: bench/results/<name>.json and .png")
    ap.add_argument("--direct", action="store_true", help="direct ingress: clients send to the replicas, not the proxy")
    args = ap.parse_args()
    import ray
    from tests_support import autoscale_ramp

    from serve.direct import DIRECT_INGRESS_ENV
    from serve.local import start

    if args.direct:  # Ray reads the switch when it starts
        os.environ.update(DIRECT_INGRESS_ENV)
    texts, reg, port = local_ray("nbmf-autoscale-")
    ingress = {
        "autoscaling_config": {
            "min_replicas": 1, "max_replicas": args.up_to, "target_ongoing_requests": args.target,
            "upscale_delay_s": 1, "downscale_delay_s": 3,
            **({"look_back_period_s": args.look_back} if args.look_back else {}),
        },
        "ray_actor_options": {"num_cpus": 0.5},
    }  # fmt: skip
    overrides = {"colocate": True, "request_timeout_s": 30}
    stop = start(reg, port=port, overrides=overrides, deployment_options={"Ingress": ingress}, direct=args.direct)
    try:
        run = autoscale_ramp(
            f"http://127.0.0.1:{port}", "technical", texts[600:], up_to=args.up_to, deadline_s=args.deadline,
            pace_s=args.pace, step_s=args.step, max_threads=args.max_threads, direct=args.direct,
        )  # fmt: skip
    finally:
        stop()
        ray.shutdown()
    reqs = run["requests"]
    dec = [r[2] for r in reqs if r[1] == "decode"]
    enc = [r[2] for r in reqs if r[1] == "encode"]
    windows = []
    for start_s in range(0, int(run["seconds"]) + 1, 5):
        w = [r[2] for r in reqs if r[1] == "decode" and start_s <= r[0] < start_s + 5]
        if w:
            windows.append({"from_s": start_s, "decode_p95_ms": round(pct(w, 0.95), 1), "n": len(w)})
    out = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{os.cpu_count()} CPUs",
        "requests": len(reqs),
        "failed": sum(not r[3] for r in reqs),
        "encode_fallbacks": sum(r[1] == "encode" and r[4] is not None for r in reqs),
        "peak_replicas": run["peak_replicas"],
        "final_replicas": run["final_replicas"],
        "client_threads_at_peak": run["threads"],
        "seconds": run["seconds"],
        "decode_ms_p50_p95_p99": [round(pct(dec, q), 1) for q in (0.5, 0.95, 0.99)],
        "encode_ms_p50_p95_p99": [round(pct(enc, q), 1) for q in (0.5, 0.95, 0.99)],
        "worst_5s_decode_p95_ms": max(w["decode_p95_ms"] for w in windows),
        "decode_p95_by_5s": windows,
        "replicas_over_time": run["replicas"],
    }
    out["autoscaling_config"] = ingress["autoscaling_config"]
    out["pace_s"] = args.pace
    out["direct"] = args.direct
    out["sent_direct"] = sum(r[5] for r in reqs)  # the rest went through the proxy (no replica listed yet)
    save(args.name, out)
    plot(run, RESULTS / f"{args.name}.png")


def plot(run: dict, path: Path) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for op, color in (("decode", "#27a"), ("encode", "#d84")):
        pts = [(r[0], r[2]) for r in run["requests"] if r[1] == op]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=4, alpha=0.5, color=color, label=f"{op} latency (client)")
    ax.axhline(120, color="#c33", linestyle="--", linewidth=1, label="SLA: decode p95 ≤ 120 ms")
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("ms per request (log)")
    ax2 = ax.twinx()
    ax2.step([t for t, _ in run["replicas"]], [n for _, n in run["replicas"]], where="post", color="#2a7", label="running replicas")
    ax2.set_ylabel("replicas")
    ax2.set_ylim(0, max(n for _, n in run["replicas"]) + 1)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    ax.set_title("nbmf on local Serve: load ramps to 3 replicas and back (2 CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
