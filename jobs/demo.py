"""``nbmf demo``: the whole system on one machine, from nothing, in minutes.

    local Ray ─▶ collect the built-in corpus ─▶ train 2+ domains in parallel ─▶ validate ─▶ promote
              ─▶ Serve on 127.0.0.1 ─▶ encode + decode sample records over HTTP ─▶ summary + report
Everything it starts is shut down at the end, on errors and on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import time
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel, Field

from jobs.common import run_or_exit
from jobs.pipeline import PipelineConfig, format_summary
from jobs.pipeline import run as run_pipeline
from nbmf.config import merged, parse_config


class DemoConfig(BaseModel):
    storage: str = Field("out/demo", description="local dir (default) or s3://bucket/prefix")
    budget_s: float = Field(600, gt=0, description="wall-clock budget; training gets what the other steps leave")
    port: int | None = None
    records_per_domain: int = Field(20_000, ge=50)
    samples: int = Field(50, ge=1, description="records encoded and decoded over HTTP at the end")
    domains: list[str] = Field(
        default_factory=lambda: ["legal", "technical"],
        min_length=1,
        description="built-in domains to train (two keep the demo near 10 min on 2 cores; the corpus has four)",
    )
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig overrides (tests use a tiny model)")


# The choices a product build makes on its val records (``nbmf.neural.build.place_predictor``), given: what technical's
# build chose on the built-in corpus (BENCHMARKS.md, "The demo in its budget"). Left open, each build primes its
# reference twice more and codes its check records a dozen times: the demo took 21 min instead of its 10.
DEMO_CHOICES = {"order_sets": True, "match_trust": 5, "lr_record": 20, "mixers": 6}
VALIDATE_RECORDS = 300  # held-out test records per domain the demo's validation measures (technical has ~1,300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cfg: DemoConfig, progress: Any = print) -> dict[str, Any]:
    import ray

    t0 = time.time()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started_ray = not ray.is_initialized()
    if started_ray:
        progress("starting a local Ray…")
        from jobs.common import init_ray

        init_ray(None, include_dashboard=False, object_store_memory=512 * 1024 * 1024)
    stop_serve = None
    try:
        # training gets about 30 % of the budget; priming, validation and serving take the rest: each build primes
        # once (DEMO_CHOICES given, the val records left out of the reference), each validation measures VALIDATE_RECORDS
        # and the predictor is kept without the check that primes once more (``predictor_min_gain``)
        model = {"reference_bytes": 8 << 20, "val_in_reference": False, "cm": DEMO_CHOICES, "predictor_min_gain": None}
        train = {"model": model | {"neural": {"max_steps": 10**9, "time_budget_s": max(20.0, 0.3 * cfg.budget_s)}}}
        train = merged(train, cfg.train)
        inputs = ["builtin:" + ",".join(cfg.domains)]
        collect = {"cap": cfg.records_per_domain}
        pipe = PipelineConfig(storage=cfg.storage, inputs=inputs, collect=collect, train=train, validate_records=VALIDATE_RECORDS)
        summary = run_pipeline(pipe, progress)
        promoted = {d: e for d, e in summary["domains"].items() if e["promoted"]}
        from jobs.common import quiet_serve_logs
        from nbmf.client import Client
        from serve.local import start

        quiet_serve_logs()
        port = cfg.port or _free_port()
        progress(f"starting the Serve endpoint on http://127.0.0.1:{port} …")
        stop_serve = start(cfg.storage, "127.0.0.1", port, overrides={"model_load_timeout_s": 120, "request_timeout_s": 120})
        http: dict[str, Any] = {}
        from jobs.validate import split_texts

        with Client(f"http://127.0.0.1:{port}", retries=8, timeout_s=180) as client:
            for domain in promoted:
                texts = split_texts(cfg.storage, domain)
                random.Random(0).shuffle(texts)
                texts = texts[: cfg.samples]
                client.encode(texts[:1], domain=domain)  # warm: the replica primes the model
                enc_ms, dec_ms, frames, models = [], [], [], set()
                for t in texts:
                    s = time.perf_counter()
                    r = client.encode_response([t], domain=domain)
                    enc_ms.append(1e3 * (time.perf_counter() - s))
                    f = r["frames"][0]
                    models.add(f["model"] or f"fallback: {f['fallback']}")
                    frames.append(__import__("base64").b64decode(f["frame"]))
                for f, t in zip(frames, texts):
                    s = time.perf_counter()
                    back = client.decode([f])[0]
                    dec_ms.append(1e3 * (time.perf_counter() - s))
                    if back != t:
                        raise RuntimeError(f"{domain}: a record did not round-trip over HTTP")
                orig = sum(len(t.encode()) for t in texts)
                http[domain] = {
                    "records": len(texts),
                    "ratio": orig / sum(map(len, frames)),
                    "encode_ms_p50": statistics.median(enc_ms),
                    "decode_ms_p50": statistics.median(dec_ms),
                    "exact": True,
                    "served_by": sorted(models),
                }
        summary["http"] = http
        summary["seconds_total"] = round(time.time() - t0, 1)
    finally:
        if stop_serve is not None:
            stop_serve()
        if started_ray:
            ray.shutdown()
    progress(_format(summary, cfg.storage))  # after the shutdown it reports
    return summary


def _format(summary: dict[str, Any], storage: str) -> str:
    lines = ["", "=" * 78, "nbmf demo summary", format_summary(summary), "", "over HTTP (127.0.0.1):"]
    for d, h in summary["http"].items():
        lines.append(
            f"  {d}: {h['records']} records, ratio {h['ratio']:.2f}, encode p50 {h['encode_ms_p50']:.1f} ms, "
            f"decode p50 {h['decode_ms_p50']:.1f} ms, all exact, served by {', '.join(h['served_by'])}"
        )
    for d, e in summary["domains"].items():
        lines.append(f"  report: {storage}/models/{d}/{e['version']}/reports/{e['report']}/report.md")
    lines.append(f"total {summary['seconds_total']} s; everything started here has been shut down")
    lines += ["", "try next (the demo's registry is " + storage + "):", *next_steps(storage, next(iter(summary["domains"]), "legal"))]
    return "\n".join(lines)


def next_steps(storage: str, domain: str) -> list[str]:
    """What to type after the demo (the README's "Next steps" say the same)."""
    return [
        "  source .venv/bin/activate        # nbmf on PATH (or call .venv/bin/nbmf)",
        f"  nbmf encode README.md -o readme.nbmf --domain {domain} --registry {storage}",
        f"  nbmf decode readme.nbmf --registry {storage}",
        "  nbmf collect --input my_records.jsonl --domain mine --out out/mine      # your own records",
    ]


def demo(
    storage: Annotated[str, typer.Option(help="Local dir or s3://bucket/prefix?endpoint_override=…")] = "out/demo",
    budget: Annotated[float, typer.Option(help="Seconds for the whole demo (training gets ~30 %).")] = 600,
    port: Annotated[Optional[int], typer.Option(help="HTTP port (default: a free one).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Also print the summary as JSON.")] = False,
    domains: Annotated[
        str, typer.Option(help="Built-in domains to train, comma-separated (financial, general, legal, technical).")
    ] = "legal,technical",
) -> None:
    """Collect, train the built-in domains in parallel, validate, promote, serve, and try it over HTTP."""
    fields = {"storage": storage, "budget_s": budget, "port": port, "domains": [d for d in domains.split(",") if d]}
    # a bad flag or an nbmf error: its message and exit 2; Ctrl-C / SIGTERM: what the demo started stops (exit 130 / 143)
    summary = run_or_exit(lambda: run(parse_config(DemoConfig, fields, "nbmf demo")))
    if json_out:
        typer.echo(json.dumps(summary, indent=2))


if __name__ == "__main__":
    typer.run(demo)
