"""Validate job: measure a candidate on the test split, apply the gates, write the report.

nbmf validate --domain legal --version 3 --data /tmp/nbmf --registry /tmp/nbmf     (exit 0 pass, 1 fail)
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel

from jobs.common import run_or_exit
from nbmf.config import parse_config
from nbmf.errors import NBMFError
from nbmf.registry import Registry
from nbmf.storage import Store
from nbmf.validation import MAX_RECORDS, Gates, ValidationReport, summary_table, validate, write_report


class ValidateConfig(BaseModel):
    domain: str
    version: int | None = None  # default: the newest version
    data: str
    registry: str
    gates: Gates = Gates()
    max_records: int = MAX_RECORDS


def split_texts(data: str, domain: str, split: str = "test") -> list[str]:
    import pyarrow.parquet as pq

    d = Store(data).child("datasets", domain, split)
    out: list[str] = []
    for f in d.list():
        if f.endswith(".parquet"):
            out += pq.read_table(d.full(f), filesystem=d.filesystem, columns=["text"]).column("text").to_pylist()
    return out


def run(cfg: ValidateConfig, progress: Any = print) -> ValidationReport:
    reg = Registry(cfg.registry)
    version = cfg.version if cfg.version is not None else max(reg.versions(cfg.domain), default=None)
    if version is None:
        raise NBMFError(f"no versions of {cfg.domain} in {cfg.registry}")
    texts = split_texts(cfg.data, cfg.domain)
    if not texts:
        raise NBMFError(f"no test records for {cfg.domain} under {cfg.data}/datasets/{cfg.domain}/test: run `nbmf collect` first")
    progress(f"validating {cfg.domain}@{version} on {min(len(texts), cfg.max_records)} held-out test records…")
    report = validate(reg, cfg.domain, version, texts, cfg.gates, cfg.max_records)
    where = write_report(reg, report)
    progress(summary_table(report))
    for k, c in report.checks.items():
        progress(f"{'PASS' if c.ok else 'FAIL'} {k}: {c.detail}")
    progress(f"{cfg.domain}@{version}: {'passed' if report.passed else 'FAILED'} — report in {where}/report.md")
    return report


def failure_message(report: ValidationReport) -> str:
    """What a failed validation prints on stderr, so a script's log says which gate refused the version."""
    return f"error: {report.domain}@{report.version} failed its gates: " + "; ".join(report.failed_checks())


def validate_cmd(
    domain: Annotated[str, typer.Option()],
    data: Annotated[str, typer.Option(help="Storage root with datasets/ (the test split is measured).")],
    registry: Annotated[str, typer.Option()],
    version: Annotated[Optional[int], typer.Option(help="Default: the newest version.")] = None,
    min_exact: Annotated[float, typer.Option(help="Gate: fraction of exact round trips.")] = 1.0,
    max_decode_p95_ms: Annotated[float, typer.Option(help="Gate: p95 decode ms per record (best of 3 timings each).")] = 120.0,
    max_records: Annotated[int, typer.Option(help="Held-out test records measured, at most (the first ones).")] = MAX_RECORDS,
) -> None:
    """Measure a version against production, the stub, zstd and zstd+dict; exit 1 if a gate fails."""
    fields = dict(
        domain=domain, version=version, data=data, registry=registry,
        gates=dict(min_exact=min_exact, max_decode_p95_ms=max_decode_p95_ms), max_records=max_records,
    )  # fmt: skip
    report = run_or_exit(lambda: run(parse_config(ValidateConfig, fields, "nbmf validate")))
    if not report.passed:
        typer.echo(failure_message(report), err=True)
    raise typer.Exit(0 if report.passed else 1)


if __name__ == "__main__":
    typer.run(validate_cmd)
