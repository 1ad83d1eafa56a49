"""The config files shipped in configs/ validate against the job configs they feed (no Ray)."""

from pathlib import Path

from jobs.collect import CollectConfig
from jobs.common import load_config
from jobs.pipeline import PipelineConfig
from jobs.train import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_pipeline_config_and_the_job_configs_inside_it() -> None:
    cfg = PipelineConfig.model_validate(load_config(str(CONFIGS / "pipeline.yaml")))
    CollectConfig.model_validate({**cfg.collect, "inputs": cfg.inputs, "out": cfg.storage})
    TrainConfig.model_validate({**cfg.train, "domains": ["technical"], "data": cfg.storage, "registry": cfg.storage})


def test_gpu_train_config() -> None:
    base = load_config(str(CONFIGS / "train_gpu.yaml"))
    cfg = TrainConfig.model_validate({**base, "domains": ["technical"], "data": "/tmp/x", "registry": "/tmp/x"})
    assert cfg.use_gpu and cfg.model.neural.hidden == 512 and cfg.model.neural.batch_size == 8192
    assert cfg.eval_every >= 1000  # each evaluation codes a val sample and writes a checkpoint
