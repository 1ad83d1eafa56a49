"""The cluster files reference real entrypoints and pass Ray's own validation where it exists."""

import importlib
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def _entry_module(cmd: str) -> str:
    args = shlex.split(cmd)
    return args[args.index("-m") + 1]


def test_ray_cluster_yaml_validates_against_rays_schema() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())
    validate_config(prepare_config(cfg))  # Ray fills its defaults, then raises on any schema violation
    types = cfg["available_node_types"]
    assert types["gpu_worker"]["resources"]["GPU"] == 1 and types["gpu_worker"]["max_workers"] >= 1
    assert any("pip install" in c for c in cfg["setup_commands"])


def test_serve_config_validates_and_imports() -> None:
    from ray.serve.schema import ServeDeploySchema

    raw = yaml.safe_load((ROOT / "serve" / "config.yaml").read_text())
    schema = ServeDeploySchema.model_validate(raw) if hasattr(ServeDeploySchema, "model_validate") else ServeDeploySchema.parse_obj(raw)
    app = schema.applications[0]
    module, _, attr = app.import_path.partition(":")
    builder = getattr(importlib.import_module(module), attr)
    assert callable(builder)
    from serve.models import ServeConfig

    ServeConfig.model_validate(app.args)
    names = {d.name for d in app.deployments}
    assert names == {"Ingress", "Encoder"}  # the deployment classes in serve/app.py
    from serve.app import LOW_LATENCY_ENV

    for d in app.deployments:  # ray_actor_options in the YAML replace the code's: the settings must be here too
        assert d.ray_actor_options.runtime_env["env_vars"] == LOW_LATENCY_ENV  # type: ignore[union-attr]


def test_rayjob_and_rayservice() -> None:
    job = yaml.safe_load((ROOT / "cluster" / "rayjob.yaml").read_text())
    assert job["kind"] == "RayJob"
    mod = _entry_module(job["spec"]["entrypoint"])
    assert importlib.import_module(mod).__name__ == "jobs.pipeline"
    cfg_path = shlex.split(job["spec"]["entrypoint"])[-1]
    from jobs.common import load_config
    from jobs.pipeline import PipelineConfig

    PipelineConfig.model_validate(load_config(str(ROOT / cfg_path)))
    svc = yaml.safe_load((ROOT / "cluster" / "rayservice.yaml").read_text())
    assert svc["kind"] == "RayService"
    serve_cfg = yaml.safe_load((ROOT / "serve" / "config.yaml").read_text())
    assert yaml.safe_load(svc["spec"]["serveConfigV2"])["applications"] == serve_cfg["applications"]


def test_rays_validation_catches_a_broken_cluster_config() -> None:
    import pytest
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())
    cfg["available_node_types"]["gpu_worker"]["min_workers"] = "two"
    with pytest.raises(Exception):  # noqa: B017 - whatever Ray raises, it must refuse
        validate_config(prepare_config(cfg))
