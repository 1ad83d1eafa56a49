"""The demo end to end with a tiny budget: local Ray, local storage, Serve on 127.0.0.1."""

from pathlib import Path

import pytest

from jobs.demo import DemoConfig, run

TINY = {
    "eval_every": 10,
    "model": {
        "reference_bytes": 150_000,
        "dict_bytes": 4096,
        "neural": {"context": 8, "dim": 8, "hidden": 32, "max_steps": 30, "batch_size": 128, "time_budget_s": 60},
        "cm": {"table_bits": 16, "match_bits": 16},
    },
}


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    import ray

    assert not ray.is_initialized()
    summary = run(DemoConfig(storage=str(tmp_path / "demo"), budget_s=120, records_per_domain=400, samples=5, train=TINY))
    assert len(summary["domains"]) >= 2  # two domains trained in parallel
    for domain, e in summary["domains"].items():
        assert e["promoted"] == "production"
        assert e["ratio"] > e["zstd_dict_ratio"] > e["stub_ratio"]
        report = tmp_path / "demo" / "models" / domain / str(e["version"]) / "report"
        assert (report / "report.md").read_text().startswith(f"# Validation of {domain}@")
        assert (report / "ratio.png").stat().st_size > 1000 and (report / "latency.png").exists()
        h = summary["http"][domain]
        assert h["exact"] and h["records"] == 5 and h["served_by"] == [f"{domain}@{e['version']}"]
    assert not ray.is_initialized()  # the demo shut down what it started
    from jobs.demo import _format

    text = _format(summary, str(tmp_path / "demo"))
    assert "try next" in text and f"--registry {tmp_path / 'demo'}" in text
