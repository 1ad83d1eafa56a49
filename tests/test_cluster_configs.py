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
    from nbmf.config import parse_config
    from serve.schemas import ServeConfig

    parse_config(ServeConfig, app.args)  # every arg a field (a misspelt one is an error, not a default kept)
    names = {d.name for d in app.deployments}
    # the deployments the app builds (serve/app.py, serve/hosting.py): colocated, the Ingress codes itself
    assert names == ({"Ingress"} if app.args.get("colocate") else {"Ingress", "Encoder"})
    from serve.hosting import LOW_LATENCY_ENV

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
    from nbmf.config import parse_config

    parse_config(PipelineConfig, load_config(str(ROOT / cfg_path)))
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


def _manifest_images(doc: dict) -> list[str]:  # type: ignore[type-arg]
    spec = doc["spec"].get("rayClusterConfig") or doc["spec"]["rayClusterSpec"]
    groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
    return [c["image"] for g in groups for c in g["template"]["spec"]["containers"]]


def test_kuberay_manifests_fit_the_crds_and_run_the_nbmf_image() -> None:
    from kuberay_crd import RAY_JOB, RAY_SERVICE, SUBMISSION_MODES, check

    for name, schema, kind in (("rayservice.yaml", RAY_SERVICE, "RayService"), ("rayjob.yaml", RAY_JOB, "RayJob")):
        doc = yaml.safe_load((ROOT / "cluster" / name).read_text())
        assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == kind
        assert check(doc, schema) == [], name
        spec = doc["spec"].get("rayClusterConfig") or doc["spec"]["rayClusterSpec"]
        assert spec["rayVersion"] == "2.60.0"
        assert doc["spec"].get("submissionMode", "K8sJobMode") in SUBMISSION_MODES
        for image in _manifest_images(doc):  # a stock Ray image cannot import nbmf: the Dockerfile's image runs
            assert not image.startswith("rayproject/ray"), f"{name}: {image}"
            assert image.split(":")[0].endswith("/nbmf"), f"{name}: {image}"


def test_crd_check_catches_what_the_api_server_would_drop_or_refuse() -> None:
    from kuberay_crd import RAY_SERVICE, check

    doc = yaml.safe_load((ROOT / "cluster" / "rayservice.yaml").read_text())
    head = doc["spec"]["rayClusterConfig"]["headGroupSpec"]
    head["rayStartParams"]["num-cpus"] = 0  # must be a string
    head["template"]["spec"]["containers"][0]["imagee"] = "typo"
    del doc["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplicas"]
    problems = check(doc, RAY_SERVICE)
    assert any("num-cpus" in p and "not a string" in p for p in problems)
    assert any("imagee: no such field" in p for p in problems)
    assert any("minReplicas: required" in p for p in problems)


def test_dockerfile_builds_nbmf_on_ray_2_60() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = next(ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith("ARG BASE="))
    assert base.startswith("rayproject/ray:2.60.0") and "FROM ${BASE}" in text
    for ln in text.splitlines():
        if ln.startswith("COPY"):
            for src in ln.split()[2:-1]:
                assert (ROOT / src).exists(), src
    assert "pip install --no-cache-dir ." in text and '"torch==2.13.0"' in text
    assert "import nbmf, jobs.pipeline, serve.app" in text  # the build fails if the image cannot import them
