"""Validation reports: typed results looked up by role, one report per run, prose and plots a person can read."""

import json

import pytest

from nbmf.codecs.zstd_dict import train_dictionary
from nbmf.measurement import Contender, Role, decode_latencies_ms
from nbmf.promotion import PromotionRefused, promote
from nbmf.registry import Registry
from nbmf.validation import (
    LEGACY_REPORT_DIR,
    Gates,
    ValidationReport,
    read_report,
    render_markdown,
    report_runs,
    validate,
    write_report,
)

TEXTS = [f"clause {i}: the licensee shall keep notice {i * 7} of the agreement intact, section {i % 9}." * 2 for i in range(240)]


@pytest.fixture
def registry(tmp_path) -> Registry:  # type: ignore[no-untyped-def]
    reg = Registry(str(tmp_path / "reg"))
    d = train_dictionary([t.encode() for t in TEXTS[:200]], 4096)
    reg.publish("legal", {"zstd.dict": d}, config={})
    reg.publish("legal", {"zstd.dict": d + b""}, config={})
    return reg


def test_results_are_found_by_role_and_reports_never_overwrite(registry: Registry) -> None:
    first = validate(registry, "legal", 1, TEXTS[200:], Gates())
    assert first.role == "candidate" and first.production is None
    assert [r.role for r in first.results] == [Role.CANDIDATE, Role.STUB, Role.ZSTD, Role.ZSTD_DICT]
    assert first.measured.exact == 1.0 and first.result(Role.ZSTD_DICT).total_ratio > 1
    assert set(first.decode_latencies_ms) == {r.role for r in first.results}
    md = render_markdown(first)
    assert "None" not in md and "no production version yet" in md and first.run in md
    where = write_report(registry, first)
    assert where.endswith(f"legal/1/reports/{first.run}")
    registry.promote("legal", 1)  # (the gates are promotion's business: tested below)

    second = validate(registry, "legal", 1, TEXTS[200:], Gates())  # now production: it says so
    assert second.role == "production" and second.measured.name == "legal@1 (production)"
    assert second.run != first.run
    write_report(registry, second)
    assert report_runs(registry, "legal", 1) == sorted([first.run, second.run])
    assert read_report(registry, "legal", 1) == second
    with pytest.raises(FileExistsError):
        write_report(registry, second)

    third = validate(registry, "legal", 2, TEXTS[200:], Gates())  # a candidate beside production
    assert [r.role for r in third.results][:2] == [Role.CANDIDATE, Role.PRODUCTION]
    assert "beats_production" in third.checks and "production is legal@1" in render_markdown(third)


def test_plots_are_pngs(registry: Registry) -> None:
    from nbmf.validation import render_plots

    pngs = render_plots(validate(registry, "legal", 1, TEXTS[200:230], Gates()))
    assert set(pngs) == {"ratio.png", "latency.png"} and all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs.values())


def test_a_report_written_before_roles_still_gates_promotion(registry: Registry) -> None:
    """Reports of earlier releases (one folder, results keyed by display name) are read, not rejected."""
    new = validate(registry, "legal", 2, TEXTS[200:], Gates(max_decode_p95_ms=1e-6))
    old = new.model_dump(mode="json")
    old_names = {"candidate": "candidate legal@2", "stub": "stub (zlib)", "zstd": "zstd-19", "zstd_dict": "zstd-19+dict"}
    old["results"] = {old_names[r["role"]]: {k: v for k, v in r.items() if k not in ("role", "name")} for r in old["results"]}
    old["decode_latencies_ms"] = {"candidate legal@2": [1.0], "zstd-19": [0.1]}
    for k in ("role", "run"):
        del old[k]
    registry.models.write_bytes(f"legal/2/{LEGACY_REPORT_DIR}/report.json", json.dumps(old).encode())
    read = read_report(registry, "legal", 2)
    assert read is not None and not read.passed and read.measured.coded_bytes == new.measured.coded_bytes
    assert read.result(Role.ZSTD_DICT).total_ratio == new.result(Role.ZSTD_DICT).total_ratio
    assert read.decode_latencies_ms == {Role.CANDIDATE: [1.0], Role.ZSTD: [0.1]}
    assert "--max-decode-p95-ms" in new.checks["decode_p95"].detail  # a too slow decode says how to set the limit
    with pytest.raises(PromotionRefused, match="p95 decode"):
        promote(registry, "legal", 2)
    assert isinstance(read, ValidationReport)


def test_the_decode_gate_keeps_each_records_best_timing() -> None:
    """A one-off stall of the machine (here: the first decode sleeps 0.3 s) does not count against the model."""
    import time
    import zlib

    calls = []

    def slow_once(b: bytes, n: int) -> bytes:
        if not calls:
            time.sleep(0.3)
        calls.append(n)
        return zlib.decompress(b)

    c = Contender(Role.CANDIDATE, "stalls once", lambda d: zlib.compress(d), slow_once)
    data = [t.encode() for t in TEXTS[:4]]
    assert max(decode_latencies_ms(c, data, repeats=1)) >= 300
    calls.clear()
    best = decode_latencies_ms(c, data, repeats=3)
    assert len(best) == 4 and len(calls) == 12 and max(best) < 300
