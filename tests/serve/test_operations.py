"""What an operator relies on: a replica takes no traffic before its models are loaded (readiness), and
Ray's Prometheus endpoint exports every nbmf metric with sane values after traffic.

The model here is a real primed context-mixing model (about 1 MB of reference: seconds of priming on a
fresh node), and the endpoint's model timeout is 1 s: a replica that took traffic while it primed would
answer the first encodes with the stub. Loopback only; every wait is bounded.
"""

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests_support import GIVEN_CHOICES, autoscale_ramp, free_ports

from nbmf.client import Client, ClientError
from nbmf.config import CMParams, ModelConfig
from nbmf.corpus import local_records
from nbmf.neural.build import build_files
from nbmf.registry import Registry


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, list[str]]]:
    import ray

    from serve.local import start

    tmp = tmp_path_factory.mktemp("ops")
    texts = [r["text"] for r in local_records("technical", limit=700)]
    train, test = [t.encode() for t in texts[:600]], texts[600:]
    cm = CMParams(table_bits=18, match_bits=18, **GIVEN_CHOICES)  # one priming: the choices given
    cfg = ModelConfig(use_neural=False, reference_bytes=1 << 20, dict_bytes=4096, cm=cm)
    files, _ = build_files(train, train[:50], cfg)
    reg = Registry(str(tmp / "reg"))
    reg.publish("technical", files, config=cfg.model_dump(mode="json"))
    reg.promote("technical", 1)
    saved = os.environ.get("NBMF_PRIMED_CACHE")
    os.environ["NBMF_PRIMED_CACHE"] = str(tmp / "primed")  # a fresh node: the replica primes (seconds)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    metrics_port, port = free_ports(2)
    ray.init(
        num_cpus=2, object_store_memory=300 * 1024 * 1024, include_dashboard=False, log_to_driver=False, _metrics_export_port=metrics_port
    )
    ingress = {  # autoscaled 1..3 replicas on this 2-CPU node (the autoscaling test drives it)
        "autoscaling_config": {
            "min_replicas": 1,
            "max_replicas": 3,
            "target_ongoing_requests": 1,
            "upscale_delay_s": 1,
            "downscale_delay_s": 3,
        },
        "ray_actor_options": {"num_cpus": 0.5},
    }
    stop = start(
        str(tmp / "reg"),
        port=port,
        overrides={"colocate": True, "model_load_timeout_s": 1.0, "request_timeout_s": 30},
        deployment_options={"Ingress": ingress},
    )
    try:
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", test
    finally:
        stop()
        ray.shutdown()
        if saved is None:
            os.environ.pop("NBMF_PRIMED_CACHE", None)
        else:
            os.environ["NBMF_PRIMED_CACHE"] = saved


@pytest.mark.slow
def test_ready_before_traffic(ops: tuple[str, str, list[str]]) -> None:
    url, _, test = ops
    with Client(url) as c:  # the first request after the deployment came up: the model is already primed
        r = c.encode_response(test[:5], domain="technical")
    assert [f["fallback"] for f in r["frames"]] == [None] * 5 and {f["model"] for f in r["frames"]} == {"technical@1"}
    assert {f["codec"] for f in r["frames"]} == {"neural"}
    ready = httpx.get(url + "/readyz", timeout=10)
    serving_nice = 0 if os.geteuid() == 0 else 15  # a ready replica lowers Ray's 15 where it may (take_serving_priority)
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "loaded": ["technical@1"], "missing": [], "niceness": serving_nice}
    assert httpx.get(url + "/livez", timeout=10).json() == {"status": "ok"}


def _scrape(metrics_url: str, needed: list[str], complete: Callable[[str], bool] = lambda text: True, timeout_s: float = 90) -> str:
    """Ray exports every few seconds, and a series can appear before every increment made so far has
    reached the endpoint: poll until each needed series is there and ``complete`` holds (bounded)."""
    text = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            text = httpx.get(metrics_url, timeout=10).text
        except httpx.HTTPError:
            text = ""
        if all(re.search(n, text, re.M) for n in needed) and complete(text):
            return text
        time.sleep(2)
    missing = [n for n in needed if not re.search(n, text, re.M)]
    if missing:
        raise AssertionError(f"metrics never showed {missing}")
    return text  # every series, not every increment: the assertions on the values say which


def _value(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.slow
def test_metrics_after_traffic(ops: tuple[str, str, list[str]]) -> None:
    url, metrics_url, test = ops
    rng = random.Random(0)
    sample = rng.sample(test, 20)
    with Client(url) as c:
        frames = c.encode(sample, domain="technical")
        assert c.decode(frames) == sample
        c.encode(["no model for this one " * 5], domain="nobody")
        with pytest.raises(ClientError):
            c.decode([b"\x9f\x00junk"])
    needed = [
        r'^ray_nbmf_requests_total\{.*route="encode".*status="200"',
        r'^ray_nbmf_requests_total\{.*route="decode".*status="422"',
        r"^ray_nbmf_request_latency_ms_bucket\{",
        r'^ray_nbmf_records_total\{.*codec="neural".*model="technical@1"|^ray_nbmf_records_total\{.*model="technical@1".*codec="neural"',
        r"^ray_nbmf_bytes_in_total\{",
        r"^ray_nbmf_bytes_out_total\{",
        r'^ray_nbmf_fallbacks_total\{.*reason="no_model"',
        r'^ray_nbmf_decode_failures_total\{.*error="FrameError"',
        r"^ray_nbmf_model_load_seconds_count\{",
        r'^ray_nbmf_model_cache_total\{.*result="miss"',
        r"^ray_nbmf_models_loaded\{",
        r"^ray_nbmf_ready\{",
    ]
    sample_bytes = sum(len(t.encode()) for t in sample)

    def complete(text: str) -> bool:
        return _value(text, "ray_nbmf_bytes_in_total", route="encode", domain="technical", codec="neural") >= sample_bytes and _value(
            text, "ray_nbmf_records_total", route="decode", model="technical@1"
        ) >= len(sample)

    text = _scrape(metrics_url, needed, complete)
    enc_in = _value(text, "ray_nbmf_bytes_in_total", route="encode", domain="technical", codec="neural")
    enc_out = _value(text, "ray_nbmf_bytes_out_total", route="encode", domain="technical", codec="neural")
    assert enc_in >= sample_bytes and 2 < enc_in / enc_out < 50  # the achieved ratio can be graphed
    assert _value(text, "ray_nbmf_records_total", route="decode", model="technical@1") >= len(sample)
    assert _value(text, "ray_nbmf_fallbacks_total", domain="nobody", reason="no_model") >= 1
    loads = _value(text, "ray_nbmf_model_load_seconds_count", model="technical@1")
    seconds = _value(text, "ray_nbmf_model_load_seconds_sum", model="technical@1")
    assert loads >= 1 and 0 < seconds < 120 * loads  # loaded (primed on this fresh node) by each replica
    assert _value(text, "ray_nbmf_models_loaded") >= 1 and _value(text, "ray_nbmf_ready") >= 1
    assert _value(text, "ray_nbmf_requests_total", route="encode", status="200") >= 2


def test_metric_names_are_documented() -> None:
    """Every metric the code defines is in docs/OPERATIONS.md (what it means, what to do when it moves)."""
    src = (Path(__file__).parents[2] / "serve" / "metrics.py").read_text()
    doc = (Path(__file__).parents[2] / "docs" / "OPERATIONS.md").read_text()
    names = re.findall(r'"(nbmf_[a-z_]+)"', src)
    assert len(names) >= 11
    for n in names:
        assert f"ray_{n}" in doc, n


def test_grafana_dashboard_graphs_every_metric() -> None:
    import json

    root = Path(__file__).parents[2]
    dash = json.loads((root / "cluster" / "grafana-nbmf.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    defined = set(re.findall(r'"(nbmf_[a-z_]+)"', (root / "serve" / "metrics.py").read_text()))
    used = {m.removeprefix("ray_").removesuffix("_total").removesuffix("_bucket") for m in re.findall(r"ray_nbmf_[a-z_]+", exprs)}
    assert used == defined  # every metric graphed, and nothing graphed that the code does not export


@pytest.mark.slow
def test_autoscaling_up_and_down_loses_nothing(ops: tuple[str, str, list[str]]) -> None:
    """Load ramps until 3 replicas run, then drops until 1 is left: every request answered and exact, and no
    encode fell back (a replica added by autoscaling takes traffic only once its model is loaded)."""
    url, _, test = ops
    run = autoscale_ramp(url, "technical", test, up_to=3, deadline_s=150)
    assert run["peak_replicas"] == 3 and run["final_replicas"] == 1, run["replicas"]
    failed = [r for r in run["requests"] if not r[3]]
    assert not failed, failed[:5]
    fallbacks = [r for r in run["requests"] if r[1] == "encode" and r[4] is not None]
    assert not fallbacks, fallbacks[:5]
    assert len(run["requests"]) > 50
