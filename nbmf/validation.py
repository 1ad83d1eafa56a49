"""Measure a candidate model version against production, the stub, zstd-19 and zstd-19 + dictionary,
decide the gates, and write the report (JSON + markdown + PNG plots) beside the version.

    test records --every codec--> ratio (total, p5/p50/p95), exact round trips, semantic equality,
                                  encode/decode latency (median, p95), model size --gates--> pass/fail
"""

from __future__ import annotations

import io
import json
import time
import zlib
from collections.abc import Sequence
from typing import Any

import zstandard as zstd
from pydantic import BaseModel, Field

from nbmf.bench import Contender, measure
from nbmf.codec import NBMF
from nbmf.payload import Fidelity, PayloadType, canonical
from nbmf.registry import Registry

REPORT_DIR = "report"


class Gates(BaseModel):
    min_exact: float = Field(1.0, ge=0, le=1, description="byte-exact lossless round trips (and semantic equality)")
    beat_production: bool = True
    beat_zstd_dict: bool = True
    max_decode_p95_ms: float = Field(120.0, gt=0, description="per record")


def _nbmf_contender(name: str, codec: NBMF, domain: str) -> Contender:
    model = codec.model_for(domain)

    def enc(d: bytes) -> bytes:
        return codec.encode_bytes(d, Fidelity.LOSSLESS, PayloadType.STR, model).frame

    return Contender(name, enc, lambda b, n: codec.decode_bytes(b)[1])


def validate(registry: Registry, domain: str, version: int, texts: Sequence[str], gates: Gates, max_records: int = 2000) -> dict[str, Any]:
    """Measure and gate ``domain@version`` on ``texts`` (the domain's test split)."""
    texts = list(texts)[:max_records]
    if not texts:
        raise ValueError(f"no test records for {domain}")
    data = [t.encode("utf-8", "surrogatepass") for t in texts]
    cand = NBMF(registry)
    cand_model = cand.load(domain, version)
    cand.model = cand_model
    _, files = registry.load_files(domain, version)
    from nbmf.codecs.zstd_dict import ZstdDictCodec

    zc = ZstdDictCodec(files["zstd.dict"])
    z19 = zstd.ZstdCompressor(level=19)
    contenders = [
        _nbmf_contender(f"candidate {domain}@{version}", cand, domain),
        Contender("stub (zlib)", lambda d: zlib.compress(d, 9), lambda b, n: zlib.decompress(b)),
        Contender("zstd-19", z19.compress, lambda b, n: zstd.ZstdDecompressor().decompress(b)),
        Contender("zstd-19+dict", zc.compress, zc.decompress),
    ]
    production = registry.channels(domain).production
    if production is not None and production != version:
        prod = NBMF(registry)
        prod.model = prod.load(domain, production)
        contenders.insert(1, _nbmf_contender(f"production {domain}@{production}", prod, domain))
    results = {}
    latencies: dict[str, list[float]] = {}
    for c in contenders:
        r = measure(c, data)
        results[c.name] = r.__dict__
        latencies[c.name] = _decode_latencies(c, data)
    # semantic fidelity: the canonical form comes back exactly
    sem_ok = sum(cand.decode(cand.encode(t, "semantic", "str", domain)) == canonical(t, PayloadType.STR, Fidelity.SEMANTIC) for t in texts)
    cand_r = results[contenders[0].name]
    model_bytes = sum(len(v) for v in files.values())
    checks = {
        "exact_round_trips": (
            cand_r["exact"] >= gates.min_exact,
            f"{100 * cand_r['exact']:.2f} % exact (need {100 * gates.min_exact:.2f} %)",
        ),
        "semantic_equality": (sem_ok / len(texts) >= gates.min_exact, f"{100 * sem_ok / len(texts):.2f} % canonical forms equal"),
        "decode_p95": (
            cand_r["decode_ms_p95"] <= gates.max_decode_p95_ms,
            f"p95 decode {cand_r['decode_ms_p95']:.2f} ms (limit {gates.max_decode_p95_ms} ms)",
        ),
    }
    zd = results["zstd-19+dict"]["total_ratio"]
    if gates.beat_zstd_dict:
        checks["beats_zstd_dict"] = (cand_r["total_ratio"] >= zd, f"ratio {cand_r['total_ratio']:.3f} vs zstd+dict {zd:.3f}")
    if gates.beat_production and production is not None and production != version:
        pr = results[f"production {domain}@{production}"]["total_ratio"]
        checks["beats_production"] = (cand_r["total_ratio"] >= pr, f"ratio {cand_r['total_ratio']:.3f} vs production {pr:.3f}")
    return {
        "domain": domain,
        "version": version,
        "production": production,
        "records": len(texts),
        "bytes": sum(map(len, data)),
        "model_bytes": model_bytes,
        "semantic_equality": sem_ok / len(texts),
        "results": results,
        "decode_latencies_ms": latencies,
        "gates": gates.model_dump(),
        "checks": {k: {"ok": ok, "detail": why} for k, (ok, why) in checks.items()},
        "passed": all(ok for ok, _ in checks.values()),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _decode_latencies(c: Contender, data: Sequence[bytes]) -> list[float]:
    out = []
    for d in data[:500]:
        coded = c.encode(d)
        t0 = time.perf_counter()
        assert c.decode is not None
        c.decode(coded, len(d))
        out.append(1e3 * (time.perf_counter() - t0))
    return sorted(out)


def summary_table(report: dict[str, Any]) -> str:
    lines = [
        "| codec | total ratio | p5 / p50 / p95 ratio | exact | encode ms p50 / p95 | decode ms p50 / p95 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        lines.append(
            f"| {name} | {r['total_ratio']:.3f} | {r['ratio_p5']:.2f} / {r['ratio_p50']:.2f} / {r['ratio_p95']:.2f} | "
            f"{100 * r['exact']:.1f} % | {r['encode_ms_p50']:.2f} / {r['encode_ms_p95']:.2f} | "
            f"{r['decode_ms_p50']:.2f} / {r['decode_ms_p95']:.2f} |"
        )
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    verdict = "PASSED" if report["passed"] else "FAILED"
    checks = "\n".join(f"- {'✅' if c['ok'] else '❌'} {k}: {c['detail']}" for k, c in report["checks"].items())
    return (
        f"# Validation of {report['domain']}@{report['version']}: {verdict}\n\n"
        f"{report['records']} held-out test records ({report['bytes']} bytes); production: {report['production']}; "
        f"model artifact {report['model_bytes'] / 1e6:.2f} MB; semantic equality {100 * report['semantic_equality']:.1f} %.\n\n"
        f"## Gates\n\n{checks}\n\n## Codecs\n\n{summary_table(report)}\n\n"
        f"![ratio per codec](ratio.png)\n\n![decode latency CDF](latency.png)\n\n_{report['created_at']}_\n"
    )


def render_plots(report: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    names = list(report["results"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(
        names, [report["results"][n]["total_ratio"] for n in names], color=["#2a7" if n.startswith("candidate") else "#889" for n in names]
    )
    ax.set_xlabel("total compression ratio (higher is better)")
    ax.set_title(f"{report['domain']}@{report['version']}: ratio per codec")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    out["ratio.png"] = buf.getvalue()
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for n, lat in report["decode_latencies_ms"].items():
        ax.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))], label=n)
    ax.set_xscale("log")
    ax.set_xlabel("decode latency per record (ms, log scale)")
    ax.set_ylabel("fraction of records")
    ax.legend(fontsize=7)
    ax.set_title("decode latency CDF")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    out["latency.png"] = buf.getvalue()
    plt.close(fig)
    return out


def write_report(registry: Registry, report: dict[str, Any]) -> str:
    """Report files into models/<domain>/<version>/report/; returns that location."""
    base = f"{report['domain']}/{report['version']}/{REPORT_DIR}"
    registry.models.write_bytes(f"{base}/report.json", json.dumps(report, indent=2).encode())
    registry.models.write_bytes(f"{base}/report.md", render_markdown(report).encode())
    for name, png in render_plots(report).items():
        registry.models.write_bytes(f"{base}/{name}", png)
    return registry.models.full(base)


def read_report(registry: Registry, domain: str, version: int) -> dict[str, Any] | None:
    rel = f"{domain}/{version}/{REPORT_DIR}/report.json"
    return json.loads(registry.models.read_bytes(rel)) if registry.models.exists(rel) else None
