"""The one model service: single-flight loads, a bounded LRU, channels with a TTL (kept through outages),
the canary per record, frames' models by reference, readiness and the events metrics count."""

import threading
import time
from pathlib import Path

import pytest

from nbmf import artifact
from nbmf.codec import NBMF
from nbmf.codecs.zstd_dict import train_dictionary
from nbmf.errors import ModelNotFoundError, StorageError
from nbmf.models import Fallback, ModelService, model_id, parse_model_id
from nbmf.registry import Registry

SAMPLES = [f"record {i}: the licensee shall keep notice {i * 7} of the agreement".encode() * 3 for i in range(200)]


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(str(tmp_path / "reg"))
    d = train_dictionary(SAMPLES, 2048)
    for domain in ("legal", "technical"):
        reg.publish(domain, {"zstd.dict": d}, config={})
        reg.publish(domain, {"zstd.dict": d}, config={})
    reg.promote("legal", 1)
    return reg


def test_loads_are_single_flight_bounded_and_failures_are_not_cached(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    svc = ModelService(registry, cache_size=2, listener=lambda e, domain, version, **kw: events.append((e, model_id(domain, version))))
    real, calls = artifact.DomainModel.load, []

    def slow_load(reg, domain, version):  # type: ignore[no-untyped-def]
        calls.append((domain, version))
        time.sleep(0.2)
        return real(reg, domain, version)

    monkeypatch.setattr(artifact.DomainModel, "load", staticmethod(slow_load))
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(svc.load("legal", 1))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [("legal", 1)] and all(g is got[0] for g in got)  # one load, shared by six callers
    assert events.count(("miss", "legal@1")) == 1 and events.count(("load", "legal@1")) == 1 and events.count(("hit", "legal@1")) == 5
    svc.load("legal", 2)
    svc.load("legal", 1)  # most recent now
    svc.load("technical", 1)  # evicts legal@2
    assert svc.loaded() == [("legal", 1), ("technical", 1)]
    with pytest.raises(ModelNotFoundError):
        svc.load("legal", 9)
    with pytest.raises(ModelNotFoundError):
        svc.load("legal", 9)
    assert events.count(("load_failed", "legal@9")) == 2  # tried again: a failure is not remembered


def test_channels_ttl_outage_canary_and_fallback_kinds(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = ModelService(registry, channel_ttl_s=0.0)
    assert svc.serving("legal").model is not None and svc.serving("legal").model.version == 1  # type: ignore[union-attr]
    assert svc.serving("technical").kind is Fallback.NO_MODEL
    assert svc.serving(None).kind is Fallback.NO_DOMAIN
    assert ModelService(None).serving("legal").kind is Fallback.NO_REGISTRY
    registry.promote("legal", 2, canary_percent=50)
    versions = {svc.serving_version("legal").version for _ in range(200)}
    assert versions == {1, 2}  # drawn per record
    assert svc.serving_version("legal", draw=10).version == 2 and svc.serving_version("legal", draw=90).version == 1

    def down(domain: str) -> None:
        raise StorageError("registry down")

    monkeypatch.setattr(registry, "channels", down)
    assert svc.serving_version("legal", draw=90).version == 1  # the last channels seen stay through an outage
    fresh = ModelService(registry)
    choice = fresh.serving("legal")
    assert choice.model is None and choice.kind is Fallback.REGISTRY_UNAVAILABLE and "registry" in (choice.fallback or "")


def test_frames_find_their_model_and_readiness(registry: Registry) -> None:
    registry.promote("technical", 1)
    registry.promote("technical", 2, canary_percent=10)
    svc = ModelService(registry)
    codec = NBMF(models=svc)
    frame = codec.encode("the licensee shall keep notice 7 of the agreement " * 3, domain="legal")
    fresh = NBMF(models=ModelService(registry))
    assert fresh.decode(frame) == "the licensee shall keep notice 7 of the agreement " * 3
    assert fresh.models.loaded() == [("legal", 1)]
    wanted = svc.wanted()
    assert sorted(wanted) == [("legal", 1), ("technical", 1), ("technical", 2)]  # production and canary of each domain
    assert set(svc.missing(wanted)) == set(wanted) - {("legal", 1)}
    for k in wanted:
        svc.load(*k)
    assert svc.missing(wanted) == []
    assert parse_model_id("legal@12") == ("legal", 12)
    with pytest.raises(ModelNotFoundError):
        parse_model_id("legal")
