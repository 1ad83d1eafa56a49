"""Re-encoding one record (nbmf.migration) and the census / retire checks over a store."""

import base64
import json
from pathlib import Path

import pytest
from memory_store import make_warm_store
from tests_support import serving_registry
from typer.testing import CliRunner

from nbmf.census import blobs_naming, census
from nbmf.cli import app
from nbmf.codec import NBMF
from nbmf.envelope import is_envelope, key_from_material
from nbmf.errors import RegistryError
from nbmf.migration import migrate_record, same_value
from nbmf.policy import ClassPolicy
from nbmf.stub_blob import PREVIEW_CHARS, encode_stub_blob
from nbmf.warm_store import WarmStore

KEY = key_from_material("memory-test-key")
runner = CliRunner()


def _doc(payload: object, cls: str) -> bytes:
    return json.dumps({"payload": payload, "meta": {"tenant_id": "t"}, "cls": cls}).encode()


def test_same_value_is_strict_about_types() -> None:
    assert same_value({"a": [1, 2.5]}, {"a": [1, 2.5]})
    assert not same_value(1, 1.0) and not same_value(1, True) and not same_value({"a": 1}, {"a": 1, "b": 2})


@pytest.mark.parametrize(
    ("payload", "fidelity"), [({"amount": 1.5, "to": "x"}, "lossless"), ("note  with   spaces", "semantic"), ({"k": "a  b"}, "semantic")]
)
def test_a_stub_record_migrates_to_the_value_its_old_decoder_returned(payload: object, fidelity: str) -> None:
    codec = NBMF()
    blob = encode_stub_blob(payload, fidelity)
    old = codec.decode(blob)
    m = migrate_record("k__chat.json", _doc(blob, "chat"), codec, ClassPolicy(), None)
    assert m.status == "migrated" and m.generation == "stub" and m.domain == "general"
    new = json.loads(m.data)
    assert new["payload"]["meta"]["encoder_version"] == "nbmf/1" and new["meta"]["tenant_id"] == "t"
    assert same_value(codec.decode(new["payload"]), old)


def test_a_cut_preview_stays_marked_truncated() -> None:
    codec = NBMF()
    blob = encode_stub_blob("word " * 1000, "semantic")
    m = migrate_record("k__research_note.json", _doc(blob, "research_note"), codec, ClassPolicy(), None)
    d = codec.decode_record(json.loads(m.data)["payload"])
    assert d.truncated and not d.verified and len(d.value) == PREVIEW_CHARS  # type: ignore[arg-type]


def test_plain_sealed_and_broken_records() -> None:
    codec = NBMF()
    m = migrate_record("p__chat.json", _doc({"plain": "value  kept"}, "chat"), codec, ClassPolicy(), None)
    assert m.status == "migrated" and m.generation == "plain" and codec.decode(json.loads(m.data)["payload"]) == {"plain": "value  kept"}
    from nbmf.envelope import seal

    sealed = seal(_doc(encode_stub_blob("secret", "lossless"), "pii"), KEY)
    m = migrate_record("s__pii.json", sealed, codec, ClassPolicy(), KEY)
    assert m.status == "migrated" and is_envelope(json.loads(m.data))  # sealed again
    for data in (b"{not json", sealed):  # unreadable, or sealed without the key
        m = migrate_record("b__chat.json", data, codec, ClassPolicy(), None)
        assert m.status == "undecodable" and m.data == data and m.error


def test_census_and_retire(tmp_path: Path) -> None:
    words = "the licensee shall keep every copyright notice intact in all copies".split()
    reg = serving_registry(str(tmp_path / "reg"), words, broken=False)
    domain = "legal"
    v = reg.channels(domain).production
    assert v is not None
    store = tmp_path / "store"
    make_warm_store(store, n=30, broken=2, sealed_every=0)  # broken1: not JSON
    ws = WarmStore(
        str(store), registry=str(tmp_path / "reg"), policy=ClassPolicy(default={"domain": domain, "fidelity": "lossless"}, classes={})
    )
    for i in range(5):
        ws.put_record(f"new{i}", "anything", " ".join(words) * 3)
    result = census([str(store)], aes_key=KEY)
    assert result["records"] == 37 and result["unreadable"] == 1
    gens = {r["generation"] for r in result["by_model"]}
    assert {"stub", "nbmf/1"} <= gens
    ref = reg.manifest(domain, v).ref
    assert blobs_naming(result, ref) == 5
    with pytest.raises(RegistryError, match="serving"):
        reg.retire(domain, v)
    # --verify decodes every blob too: all but broken0 (a stub blob whose code is not hex) do, until one
    # frame is damaged (as a frame that only the process which coded it could decode would be)
    checked = census([str(store)], aes_key=KEY, verify=NBMF(str(tmp_path / "reg")))
    assert checked["verified"] and checked["by_model"] == result["by_model"]
    assert checked["undecodable"] == 1 and checked["undecodable_examples"][0].startswith("broken0__chat.json: FrameError")
    victim = next(p for p in sorted((store / "records").glob("*.json")) if '"nbmf/1"' in p.read_text())
    doc = json.loads(victim.read_text())
    frame = bytearray(base64.b64decode(doc["payload"]["code"]))
    frame[-1] ^= 0x40
    doc["payload"]["code"] = base64.b64encode(bytes(frame)).decode()
    victim.write_text(json.dumps(doc))
    checked = census([str(store)], aes_key=KEY, verify=NBMF(str(tmp_path / "reg")))
    assert checked["undecodable"] == 2 and any(e.startswith(f"{victim.name}: ") for e in checked["undecodable_examples"])
    out = runner.invoke(app, ["census", "--store", str(store), "--verify", "--registry", str(tmp_path / "reg")])
    assert out.exit_code == 1 and f"does not decode: {victim.name}" in out.output
    assert "37/37 records decoded (1 unreadable, 2 do not decode)" in out.output  # the progress line on stderr
    out = runner.invoke(app, ["census", "--store", str(store), "--verify"])
    assert out.exit_code == 2 and "--registry" in out.output
    reg.retire(domain, 2, reason="no blob names it")
    assert 2 in reg.channels(domain).retired
    with pytest.raises(RegistryError, match="retired"):
        reg.promote(domain, 2)


def test_the_census_counts_version_5_blobs_for_the_version_their_serial_names() -> None:
    """A v5 frame names its model by registry serial only: retire must still find the blobs that need it."""
    import sys

    from nbmf import memory
    from nbmf.census import blob_model
    from nbmf.frame import ModelRef

    sys.path.insert(0, str(Path(__file__).parents[1] / "golden"))
    from make_golden import golden_neural_model

    model = golden_neural_model(serial=3)
    blob = memory.encode_blob(NBMF(model=model), "the licensee shall keep every copyright notice intact " * 3, "lossless", "golden")
    generation, _, version, codec, ref_s = blob_model(blob)
    assert (generation, version, codec, ref_s) == ("nbmf/1", model.ref.version, "neural", "serial:3")  # version: the blob's meta
    result = {"by_model": [{"ref": ref_s, "records": 4}]}
    assert blobs_naming(result, model.ref) == 4
    assert blobs_naming(result, ModelRef.of("golden", 1, "00" * 32, 4)) == 0  # another serial
    assert blobs_naming(result, ModelRef.of("golden", 1, "00" * 32)) == 0  # a version without one
