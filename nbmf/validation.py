"""Measure a candidate model version against production, the stub, zstd-19 and zstd-19 + dictionary,
decide the gates, and write the report (JSON + markdown + PNG plots) beside the version, one folder per run.

    test records --every codec--> ratio (total, p5/p50/p95), exact round trips, semantic equality,
                                  encode/decode latency (median, p95), model size --gates--> pass/fail
"""

from __future__ import annotations

import datetime
import io
import secrets
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from nbmf.codec import NBMF
from nbmf.measurement import (
    Contender,
    Result,
    Role,
    baselines,
    decode_latencies_ms,
    find,
    find_optional,
    legacy_results,
    measure,
    percentile,
)
from nbmf.payload import Fidelity, PayloadType, canonical
from nbmf.registry import Registry

REPORTS_DIR = "reports"  # models/<domain>/<version>/reports/<run>/: one folder per validation run
LEGACY_REPORT_DIR = "report"  # the single report folder written before runs were kept apart
MAX_RECORDS = 2000  # test records a validation measures by default, at most (the first ones): its one default
DECODE_REPEATS = 3  # the decode gate times each record this often and keeps the best (noise, not the model, is in the rest)


SLOW_HINT = (
    " -- timed on this machine, which may be slower or busier than the serving ones: "
    "`nbmf validate --max-decode-p95-ms` (or gates.max_decode_p95_ms in a pipeline config) sets the limit"
)


class Gates(BaseModel):
    min_exact: float = Field(1.0, ge=0, le=1, description="byte-exact lossless round trips (and semantic equality)")
    beat_production: bool = True
    beat_zstd_dict: bool = True
    max_decode_p95_ms: float = Field(120.0, gt=0, description="per record, each the best of DECODE_REPEATS timings")


class Check(BaseModel):
    ok: bool
    detail: str


class ValidationReport(BaseModel):
    domain: str
    version: int
    role: Literal["candidate", "production"] = "candidate"  # what the version was when it was validated
    production: int | None
    records: int
    bytes: int
    model_bytes: int
    semantic_equality: float
    results: list[Result]
    decode_latencies_ms: dict[Role, list[float]]
    gates: Gates
    checks: dict[str, Check]
    passed: bool
    created_at: str
    run: str = Field("", description="this validation run's folder name under reports/")

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Reports written before results had roles held ``{display name: result}``."""
        if isinstance(data, dict) and isinstance(data.get("results"), dict):
            data = dict(data)
            results = legacy_results(data["results"])
            names = {r["name"]: r["role"] for r in results}
            data["results"] = results
            data["decode_latencies_ms"] = {names[n]: v for n, v in data.get("decode_latencies_ms", {}).items() if n in names}
        return data

    def result(self, role: Role) -> Result:
        return find(self.results, role)

    @property
    def measured(self) -> Result:
        """The validated version's own result."""
        return self.result(Role.CANDIDATE)

    def failed_checks(self) -> list[str]:
        return [c.detail for c in self.checks.values() if not c.ok]


def _nbmf_contender(role: Role, name: str, codec: NBMF, domain: str) -> Contender:
    model = codec.model_for(domain)

    def enc(d: bytes) -> bytes:
        return codec.encode_bytes(d, Fidelity.LOSSLESS, PayloadType.STR, model).frame

    return Contender(role, name, enc, lambda b, n: codec.decode_bytes(b)[1])


def validate(
    registry: Registry, domain: str, version: int, texts: Sequence[str], gates: Gates, max_records: int = MAX_RECORDS
) -> ValidationReport:
    """Measure and gate ``domain@version`` on ``texts`` (the domain's test split)."""
    texts = list(texts)[:max_records]
    if not texts:
        raise ValueError(f"no test records for {domain}")
    data = [t.encode("utf-8", "surrogatepass") for t in texts]
    cand = NBMF(registry)
    cand.model = cand.load(domain, version)
    _, files = registry.load_files(domain, version)
    production = registry.channels(domain).production
    is_production = production == version
    label = f"{domain}@{version} ({'production' if is_production else 'candidate'})"
    contenders = [_nbmf_contender(Role.CANDIDATE, label, cand, domain), *baselines(files["zstd.dict"])]
    if production is not None and not is_production:
        prod = NBMF(registry)
        prod.model = prod.load(domain, production)
        contenders.insert(1, _nbmf_contender(Role.PRODUCTION, f"{domain}@{production} (production)", prod, domain))
    results = [measure(c, data) for c in contenders]
    latencies = {c.role: decode_latencies_ms(c, data, repeats=DECODE_REPEATS) for c in contenders}
    # semantic fidelity: the canonical form comes back exactly
    sem_ok = sum(cand.decode(cand.encode(t, "semantic", "str", domain)) == canonical(t, PayloadType.STR, Fidelity.SEMANTIC) for t in texts)
    mine = find(results, Role.CANDIDATE)
    assert mine.exact is not None
    decode_p95 = percentile(latencies[Role.CANDIDATE], 0.95)
    checks = {
        "exact_round_trips": Check(
            ok=mine.exact >= gates.min_exact, detail=f"{100 * mine.exact:.2f} % exact (need {100 * gates.min_exact:.2f} %)"
        ),
        "semantic_equality": Check(
            ok=sem_ok / len(texts) >= gates.min_exact, detail=f"{100 * sem_ok / len(texts):.2f} % canonical forms equal"
        ),
        "decode_p95": Check(
            ok=decode_p95 <= gates.max_decode_p95_ms,
            detail=f"p95 decode {decode_p95:.2f} ms per record, best of {DECODE_REPEATS} (limit {gates.max_decode_p95_ms:g} ms)"
            + ("" if decode_p95 <= gates.max_decode_p95_ms else SLOW_HINT),
        ),
    }
    if gates.beat_zstd_dict:
        zd = find(results, Role.ZSTD_DICT).total_ratio
        checks["beats_zstd_dict"] = Check(ok=mine.total_ratio >= zd, detail=f"ratio {mine.total_ratio:.3f} vs zstd+dict {zd:.3f}")
    prod_r = find_optional(results, Role.PRODUCTION)
    if gates.beat_production and prod_r is not None:
        checks["beats_production"] = Check(
            ok=mine.total_ratio >= prod_r.total_ratio,
            detail=f"ratio {mine.total_ratio:.3f} vs production {domain}@{production} {prod_r.total_ratio:.3f}",
        )
    now = datetime.datetime.now(datetime.UTC)
    return ValidationReport(
        domain=domain,
        version=version,
        role="production" if is_production else "candidate",
        production=production,
        records=len(texts),
        bytes=sum(map(len, data)),
        model_bytes=sum(len(v) for v in files.values()),
        semantic_equality=sem_ok / len(texts),
        results=results,
        decode_latencies_ms=latencies,
        gates=gates,
        checks=checks,
        passed=all(c.ok for c in checks.values()),
        created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        # microseconds: runs sort by name, newest last, also two validations within one second
        run=now.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(2),
    )


def summary_table(report: ValidationReport) -> str:
    lines = [
        "| codec | total ratio | p5 / p50 / p95 ratio | exact | encode ms p50 / p95 | decode ms p50 / p95 |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.results:
        exact = f"{100 * r.exact:.1f} %" if r.exact is not None else "—"
        dec = f"{r.decode_ms_p50:.2f} / {r.decode_ms_p95:.2f}" if r.decode_ms_p50 is not None and r.decode_ms_p95 is not None else "—"
        lines.append(
            f"| {r.name} | {r.total_ratio:.3f} | {r.ratio_p5:.2f} / {r.ratio_p50:.2f} / {r.ratio_p95:.2f} | "
            f"{exact} | {r.encode_ms_p50:.2f} / {r.encode_ms_p95:.2f} | {dec} |"
        )
    return "\n".join(lines)


def _production_prose(report: ValidationReport) -> str:
    if report.role == "production":
        return "this version is production"
    if report.production is None:
        return "no production version yet (this would be the first)"
    return f"production is {report.domain}@{report.production}"


def render_markdown(report: ValidationReport) -> str:
    verdict = "PASSED" if report.passed else "FAILED"
    checks = "\n".join(f"- {'✅' if c.ok else '❌'} {k}: {c.detail}" for k, c in report.checks.items())
    return (
        f"# Validation of {report.domain}@{report.version} ({report.role}): {verdict}\n\n"
        f"{report.records} held-out test records ({report.bytes:,} bytes); {_production_prose(report)}; "
        f"model artifact {report.model_bytes / 1e6:.2f} MB; semantic equality {100 * report.semantic_equality:.1f} %.\n\n"
        f"## Gates\n\n{checks}\n\n## Codecs\n\n{summary_table(report)}\n\n"
        f"![ratio per codec](ratio.png)\n\n![decode latency CDF](latency.png)\n\n_validation run {report.run}, {report.created_at}_\n"
    )


def render_plots(report: ValidationReport) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    names = [r.name for r in report.results]
    ratios = [r.total_ratio for r in report.results]
    fig, ax = plt.subplots(figsize=(7.5, 3.5))
    bars = ax.barh(names, ratios, color=["#2a7" if r.role == Role.CANDIDATE else "#889" for r in report.results])
    ax.bar_label(bars, labels=[f"{x:.2f}×" for x in ratios], padding=3, fontsize=8)
    ax.set_xlim(0, max(ratios) * 1.18)
    ax.invert_yaxis()
    ax.set_xlabel("total compression ratio (higher is better)")
    ax.set_title(f"{report.domain}@{report.version}: ratio per codec on {report.records} held-out records")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    out["ratio.png"] = buf.getvalue()
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7.5, 3.5))
    by_role = {r.role: r.name for r in report.results}
    for role, lat in report.decode_latencies_ms.items():
        if lat:
            ax.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))], label=by_role.get(role, role.value))
    gate = report.gates.max_decode_p95_ms
    ax.axvline(gate, color="#c33", linestyle="--", linewidth=1, label=f"gate: p95 ≤ {gate:g} ms")
    ax.axhline(0.95, color="#999", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel(f"decode latency per record (ms, best of {DECODE_REPEATS}, log scale)")
    ax.set_ylabel("fraction of records")
    ax.legend(fontsize=7)
    ax.set_title(f"{report.domain}@{report.version}: decode latency CDF")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    out["latency.png"] = buf.getvalue()
    plt.close(fig)
    return out


def report_dir(report: ValidationReport) -> str:
    return f"{report.domain}/{report.version}/{REPORTS_DIR}/{report.run}"


def write_report(registry: Registry, report: ValidationReport) -> str:
    """Report files into models/<domain>/<version>/reports/<run>/ (never over another run's); returns that location."""
    if not report.run:
        raise ValueError("a report needs its run name to be written")
    base = report_dir(report)
    if registry.models.exists(f"{base}/report.json"):
        raise FileExistsError(f"{registry.models.full(base)} already holds a report")
    for name, png in render_plots(report).items():
        registry.models.write_bytes(f"{base}/{name}", png)
    registry.models.write_bytes(f"{base}/report.md", render_markdown(report).encode())
    registry.models.write_bytes(f"{base}/report.json", report.model_dump_json(indent=2).encode())  # last: marks it complete
    return registry.models.full(base)


def report_runs(registry: Registry, domain: str, version: int) -> list[str]:
    """Validation runs of ``domain@version`` with a complete report, oldest first."""
    base = f"{domain}/{version}/{REPORTS_DIR}"
    return [r for r in registry.models.list(base) if registry.models.exists(f"{base}/{r}/report.json")]


def read_report(registry: Registry, domain: str, version: int) -> ValidationReport | None:
    """The newest validation of ``domain@version`` (None: never validated)."""
    runs = report_runs(registry, domain, version)
    rel = f"{domain}/{version}/{REPORTS_DIR}/{runs[-1]}/report.json" if runs else f"{domain}/{version}/{LEGACY_REPORT_DIR}/report.json"
    if not registry.models.exists(rel):
        return None
    return ValidationReport.model_validate_json(registry.models.read_bytes(rel))
