"""The config files shipped in configs/ validate against the job configs they feed, every field known (no Ray); a
config with a misspelt field stops a job before it starts anything."""

import subprocess
import sys
from pathlib import Path

from jobs.collect import CollectConfig
from jobs.common import load_config
from jobs.pipeline import PipelineConfig, train_config
from jobs.train import TrainConfig
from nbmf.config import parse_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_pipeline_config_and_the_job_configs_inside_it() -> None:
    cfg = parse_config(PipelineConfig, load_config(str(CONFIGS / "pipeline.yaml")))
    parse_config(CollectConfig, {**cfg.collect, "inputs": cfg.inputs, "out": cfg.storage})
    assert train_config(cfg, ["technical"]).model.reference_bytes == 8 << 20


def test_gpu_train_config() -> None:
    base = load_config(str(CONFIGS / "train_gpu.yaml"))
    cfg = parse_config(TrainConfig, {**base, "domains": ["technical"], "data": "/tmp/x", "registry": "/tmp/x"})
    assert cfg.use_gpu and cfg.model.neural.hidden == 512 and cfg.model.neural.batch_size == 8192
    assert cfg.eval_every >= 1000  # each evaluation codes a val sample and writes a checkpoint


def _nbmf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbmf.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_misspelt_field_stops_the_job_and_names_the_field_it_may_mean(tmp_path: Path) -> None:
    """Before, pydantic dropped an unknown field: `refrence_bytes: 4194304` trained with the default reference."""
    cfg = tmp_path / "train.yaml"
    cfg.write_text("model:\n  refrence_bytes: 4194304\nmodel_by_domain:\n  legal: {neural: {hiden: 64}}\n")
    out = _nbmf("train", "--config", str(cfg), "--domains", "legal", "--data", str(tmp_path / "data"), "--registry", str(tmp_path / "reg"))
    assert out.returncode == 2, out.stderr
    assert "model.refrence_bytes: not a field (did you mean model.reference_bytes?)" in out.stderr
    assert "model_by_domain.legal.neural.hiden: not a field (did you mean model_by_domain.legal.neural.hidden?)" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "reg").exists()  # nothing started, nothing written
    pipe = tmp_path / "pipeline.yaml"
    pipe.write_text(f"storage: {tmp_path / 'store'}\ntrain:\n  workers_per_domian: 2\n")
    out = _nbmf("pipeline", "--config", str(pipe))
    assert out.returncode == 2 and "the pipeline's train" in out.stderr and "did you mean workers_per_domain?" in out.stderr
    assert not (tmp_path / "store").exists()  # stopped before its collect step
    out = _nbmf("collect", "--input", "builtin:", "--out", str(tmp_path / "c"), "--cap", "0")
    assert out.returncode == 2 and "cap: Input should be greater than or equal to 1 (got 0)" in out.stderr
    serve_cfg = tmp_path / "serve.yaml"  # the endpoint's args: checked before Ray starts
    serve_cfg.write_text("applications:\n  - name: nbmf\n    import_path: serve.app:app_builder\n    args: {max_in_fligt: 8}\n")
    out = _nbmf("serve", "--config", str(serve_cfg))
    assert out.returncode == 2 and "max_in_fligt: not a field (did you mean max_in_flight?)" in out.stderr, out.stderr


def test_the_readmes_per_domain_example_is_a_train_config() -> None:
    import re

    import yaml

    readme = (CONFIGS.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "model_by_domain" in b)
    cfg = parse_config(TrainConfig, {**yaml.safe_load(block), "domains": ["general", "technical"], "data": "/x", "registry": "/x"})
    assert cfg.for_domain("technical").model.reference_bytes == 16 << 20 and cfg.for_domain("general").model.predictor_place == "best"
    assert cfg.for_domain("general").model.neural.time_budget_s == 600 == cfg.for_domain("technical").model.neural.time_budget_s


def test_the_model_flags_hold_for_every_domain_and_add_nothing_else(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import jobs.train as train_job

    seen: list[TrainConfig] = []
    monkeypatch.setattr(train_job, "run_training", lambda cfg: seen.append(cfg) or {})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_by_domain:\n  legal: {use_neural: false}\n")
    args = dict(domains="legal,technical", data=str(tmp_path), registry=str(tmp_path), config=str(cfg), workers_per_domain=None)
    args |= dict(cpus_per_worker=None, use_gpu=False, max_steps=None, reference_mb=None, run=None, address=None)
    train_job.train(**args, time_budget=None)
    assert seen[-1].own_settings("legal") == {"use_neural": False}  # no flag given: legal's fields are what it wrote
    train_job.train(**args, time_budget=15)
    assert seen[-1].own_settings("legal") == {"neural": {"time_budget_s": 15.0}, "use_neural": False}
    assert seen[-1].for_domain("technical").model.neural.time_budget_s == 15.0
