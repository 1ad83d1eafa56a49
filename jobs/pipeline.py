"""The one-command pipeline: collect -> train all domains in parallel -> validate -> promote what passes.

ray job submit -- python -m jobs.pipeline --config configs/pipeline.yaml
nbmf pipeline --config configs/pipeline.yaml
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from pydantic import BaseModel, Field

from jobs import collect as collect_job
from jobs import train as train_job
from jobs import validate as validate_job
from jobs.common import load_config, run_or_exit
from nbmf.config import parse_config
from nbmf.errors import NBMFError
from nbmf.measurement import Role
from nbmf.promotion import promote
from nbmf.registry import Registry
from nbmf.storage import Store
from nbmf.validation import MAX_RECORDS, Gates


class PipelineConfig(BaseModel):
    storage: str = Field(description="root for datasets/, models/ and runs/ (local dir or s3://bucket/prefix)")
    inputs: list[str] = Field(default_factory=lambda: ["builtin:"])
    domains: list[str] | None = Field(None, description="default: every domain the collect step filled")
    min_train_records: int = Field(50, ge=1, description="domains with fewer train records are skipped (and said so)")
    collect: dict[str, Any] = Field(default_factory=dict, description="CollectConfig fields (besides inputs/out)")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields (besides domains/data/registry)")
    gates: Gates = Gates()
    canary_percent: float | None = Field(None, gt=0, le=100, description="promote as canary first instead of production")
    validate_records: int = Field(MAX_RECORDS, ge=1, description="held-out test records each domain's validation measures, at most")
    ray_address: str | None = None


def run(cfg: PipelineConfig, progress: Any = print) -> dict[str, Any]:
    t0 = time.time()
    fields = {**cfg.collect, "inputs": cfg.inputs, "out": cfg.storage, "ray_address": cfg.ray_address}
    cc = parse_config(collect_job.CollectConfig, fields, "the pipeline's collect")
    train_config(cfg, cfg.domains or ["(each domain)"])  # a bad train field stops the pipeline before it collects
    progress(f"[1/4] collect {cfg.inputs} -> {cfg.storage}")
    manifest = collect_job.run(cc, progress)
    filled = {d: i["splits"]["train"]["records"] for d, i in manifest["domains"].items()}
    wanted = cfg.domains or sorted(filled)
    domains = [d for d in wanted if filled.get(d, 0) >= cfg.min_train_records]
    skipped = {d: filled.get(d, 0) for d in wanted if d not in domains}
    for d, n in skipped.items():
        progress(f"skipping {d}: {n} train records (< {cfg.min_train_records})")
    if not domains:
        raise NBMFError(f"no domain has {cfg.min_train_records}+ train records: {filled}")
    progress(f"[2/4] train {domains} in parallel")
    trained = train_job.run(train_config(cfg, domains), progress)
    reg = Registry(cfg.storage)
    summary: dict[str, Any] = {"domains": {}, "skipped": skipped}
    for domain in domains:
        version = trained[domain]["version"]
        progress(f"[3/4] validate {domain}@{version}")
        report = validate_job.run(
            validate_job.ValidateConfig(
                domain=domain, version=version, data=cfg.storage, registry=cfg.storage, gates=cfg.gates, max_records=cfg.validate_records
            ),
            progress,
        )
        entry: dict[str, Any] = {
            "version": version,
            "passed": report.passed,
            "ratio": report.measured.total_ratio,
            "zstd_dict_ratio": report.result(Role.ZSTD_DICT).total_ratio,
            "stub_ratio": report.result(Role.STUB).total_ratio,
            "decode_ms_p95": report.measured.decode_ms_p95,
            "checks": {k: c.detail for k, c in report.checks.items()},
            "report": report.run,
        }
        if report.passed:
            ch = promote(reg, domain, version, cfg.canary_percent, reason="pipeline: passed its gates")
            entry["promoted"] = "canary" if cfg.canary_percent else "production"
            entry["production"] = ch.production
            progress(f"[4/4] promoted {domain}@{version} to {entry['promoted']}")
        else:
            entry["promoted"] = None
            progress(f"[4/4] not promoting {domain}@{version}: {'; '.join(report.failed_checks())}")
        summary["domains"][domain] = entry
    summary["seconds"] = round(time.time() - t0, 1)
    Store(cfg.storage).write_bytes("pipeline/summary.json", json.dumps(summary, indent=2).encode())
    progress(format_summary(summary))
    return summary


def train_config(cfg: PipelineConfig, domains: list[str]) -> train_job.TrainConfig:
    """The train step's config: ``cfg.train`` for ``domains``, on the pipeline's storage (no field unknown)."""
    fields = {**cfg.train, "domains": domains, "data": cfg.storage, "registry": cfg.storage, "ray_address": cfg.ray_address}
    return parse_config(train_job.TrainConfig, fields, "the pipeline's train")


def format_summary(summary: dict[str, Any]) -> str:
    lines = ["", "domain      version  ratio   vs stub  vs zstd+dict  p95 decode  promoted"]
    for d, e in summary["domains"].items():
        lines.append(
            f"{d:<11} {e['version']:>7}  {e['ratio']:5.2f}  {e['ratio'] / e['stub_ratio']:6.2f}x  "
            f"{e['ratio'] / e['zstd_dict_ratio']:11.2f}x"
            f"  {e['decode_ms_p95']:7.1f} ms  {e['promoted'] or 'no (failed gates)'}"
        )
    return "\n".join(lines)


def pipeline(config: Annotated[str, typer.Option("--config", help="Pipeline YAML/JSON file.")]) -> None:
    """Collect, train, validate and promote, as one job."""
    run_or_exit(lambda: run(parse_config(PipelineConfig, load_config(config), config)))


if __name__ == "__main__":
    typer.run(pipeline)
