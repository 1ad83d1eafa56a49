"""nbmf.memory: the memory service's codec interface, backed by nbmf (callers swap the import)."""

import json
from pathlib import Path
from typing import Any

import pytest

from nbmf import memory
from nbmf.errors import ChecksumError, FrameError, PayloadError
from nbmf.registry import Registry
from nbmf.stub_blob import PREVIEW_CHARS, old_canonical

VECTORS = [json.loads(line) for line in (Path(__file__).parents[1] / "compat" / "stub_blobs.jsonl").read_text().splitlines() if line]
VALUES: list[Any] = [
    "hello  world\n",
    {"b": 1, "a": [1, 2.5, None, True]},
    [1, "two"],
    3,
    3.25,
    True,
    None,
    "",
    "Grüße 東京 ✓ 🚀",
    "x " * 3000,
]


@pytest.mark.parametrize("value", VALUES)
def test_lossless_round_trips_equal_and_same_type(value: Any) -> None:
    blob = memory.encode(value, fidelity="lossless")
    back = memory.decode(blob)
    assert back == value and type(back) is type(value)
    assert json.loads(json.dumps(blob)) == blob  # a plain JSON object, as the service stores it


@pytest.mark.parametrize("value", VALUES)
def test_semantic_is_the_old_canonical_form_never_cut(value: Any) -> None:
    back = memory.decode(memory.encode(value))  # the old default fidelity: semantic
    assert back == old_canonical(value)
    if len(old_canonical(value)) > PREVIEW_CHARS:
        assert len(back) > PREVIEW_CHARS  # the old stub cut here; nbmf keeps it all


def test_blob_shape_and_version_detection() -> None:
    blob = memory.encode({"k": "v"}, "lossless", domain="legal")
    assert set(blob) == {"meta", "code", "sig"}
    meta = blob["meta"]
    assert meta["encoder_version"] == "nbmf/1" and meta["encoder_domain"] == "legal"
    assert meta["fidelity"] == "lossless" and meta["type"] == "dict" and "model_version" in meta and meta["codec"]


@pytest.mark.parametrize("vec", VECTORS[::2] + VECTORS[1::7], ids=lambda v: v["case"])
def test_every_generation_decodes(vec: dict[str, Any]) -> None:
    assert memory.decode(vec["blob"]) == vec["decoded"]
    placeholder = json.loads(json.dumps(vec["blob"]))
    placeholder["meta"].update(encoder_version="production_placeholder", encoder_domain="financial")
    assert memory.decode_production(placeholder) == vec["decoded"]
    assert memory.ProductionNBMFEncoder().decode(json.dumps(vec["blob"])) == vec["decoded"]


def test_production_encoder_interface() -> None:
    enc = memory.get_production_encoder("legal")
    assert memory.get_production_encoder("legal") is enc  # a per-process singleton
    blob = memory.encode_production({"clause": "shall"}, "lossless", "legal")
    assert blob["meta"]["encoder_domain"] == "legal"
    assert memory.decode_production(blob) == {"clause": "shall"} == enc.decode(blob)


def test_tampered_or_unknown_blobs_are_refused() -> None:
    blob = memory.encode({"amount": 100}, "lossless")
    forged = dict(blob, sig="0" * 64)
    with pytest.raises(ChecksumError):
        memory.decode(forged)
    newer = json.loads(json.dumps(blob))
    newer["meta"]["encoder_version"] = "nbmf/7"
    with pytest.raises(FrameError, match="newer nbmf"):
        memory.decode(newer)
    with pytest.raises(FrameError):
        memory.decode(dict(blob, code="!!not base64!!"))


def test_values_that_cannot_round_trip_are_refused_at_the_door() -> None:
    for bad in (float("nan"), {1: "int key"}, (1, 2), b"bytes", {"deep": [[[[[]]]]] * 0} | {"s": {1, 2}}):
        with pytest.raises(PayloadError):
            memory.encode(bad, "lossless")


def test_a_broken_registry_falls_back_to_the_stub(tmp_path: Path) -> None:
    reg = Registry(str(tmp_path))
    reg.models.write_bytes("legal/channels.json", b"{ not json")  # a corrupt channel file
    enc = memory.ProductionNBMFEncoder("legal", model_path=str(tmp_path))
    blob = enc.encode("a record that must not be lost", "lossless")
    assert blob["meta"]["model_version"] is None and "fallback" in blob["meta"]
    assert enc.decode(blob) == "a record that must not be lost"


def test_registry_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(memory.REGISTRY_ENV, str(tmp_path))
    assert memory.codec_for().registry is not None and memory.codec_for().registry.store.uri == str(tmp_path)  # type: ignore[union-attr]
    blob = memory.encode("no model published yet: the stub answers", "lossless", domain="legal")
    assert blob["meta"]["fallback"].startswith("no production model")
    assert memory.decode(blob) == "no model published yet: the stub answers"
