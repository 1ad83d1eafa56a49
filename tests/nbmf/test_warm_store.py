"""The warm-store adapter over the service's layout (local and S3 via moto), with its AES-GCM envelopes."""

import base64
import json
from pathlib import Path

import pytest
from memory_store import make_warm_store

from nbmf.envelope import KEY_ENV, key_from_material, open_envelope, seal
from nbmf.errors import InputError, IntegrityError
from nbmf.policy import ClassPolicy
from nbmf.storage import Store
from nbmf.stub_blob import old_canonical
from nbmf.warm_store import WarmStore, record_name, split_name

KEY = key_from_material("memory-test-key")


@pytest.fixture(autouse=True)
def _no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)  # each test says whether it has a key


def test_layout_names() -> None:
    assert record_name("user/7/item", "research/note") == "user_7_item__research_note.json"
    assert split_name("user_7_item__chat.json") == ("user_7_item", "chat")


def test_put_get_and_the_class_policy(storage_uri: str) -> None:
    ws = WarmStore(storage_uri, aes_key=KEY, encrypt=False)
    ws.put_record("a1", "finance", {"amount": 12.5, "memo": "two  spaces"})
    ws.put_record("c1", "chat", "hi   there\n friend")
    assert ws.get_record("a1", "finance") == {"amount": 12.5, "memo": "two  spaces"}  # finance: lossless
    assert ws.get_record("c1", "chat") == "hi there friend"  # chat: semantic (the old canonical form)
    full = ws.get_full_record("a1", "finance")
    assert full is not None and full["meta"]["compression"]["domain"] == "financial" and full["meta"]["access_count"] == 2  # two reads
    assert ws.exists("a1", "finance") and not ws.exists("a1", "chat")
    assert ws.get_record("nope", "chat") is None
    assert sorted(ws.list_ids()) == ["a1", "c1"] and ws.list_ids("chat") == ["c1"]
    assert {k for k, _ in ws.iter_records()} == {"a1", "c1"}


def test_tenants_see_their_own_records(tmp_path: Path) -> None:
    ws = WarmStore(str(tmp_path))
    ws.put_record("x", "pii", {"name": "Ana"}, {"tenant_id": "t1"})
    ws.put_record("shared", "chat", "for everyone")
    assert ws.get_record("x", "pii", tenant_id="t1") == {"name": "Ana"}
    assert ws.get_record("x", "pii", tenant_id="t2") is None
    assert ws.list_ids(tenant_id="t2") == ["shared"]


def test_reads_and_unchanged_writes_never_re_encode(tmp_path: Path) -> None:
    ws = WarmStore(str(tmp_path))
    ws.put_record("k", "legal", "The licensee shall keep this notice.")
    blob = json.loads(ws.records.read_bytes("k__legal.json"))["payload"]
    for _ in range(3):
        ws.get_record("k", "legal")  # reads rewrite the file (access counters) ...
        ws.put_record("k", "legal", "The licensee shall keep this notice.", {"touched": True})
    doc = json.loads(ws.records.read_bytes("k__legal.json"))
    assert doc["payload"] == blob and doc["meta"]["access_count"] == 3  # ... with the very same blob
    ws.put_record("k", "legal", "A changed notice.")
    assert json.loads(ws.records.read_bytes("k__legal.json"))["payload"] != blob


def test_encrypted_files_read_and_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "memory-test-key")
    ws = WarmStore(str(tmp_path))
    ws.put_record("s", "pii", {"ssn": "000-00-0000"})
    raw = json.loads((tmp_path / "records" / "s__pii.json").read_bytes())
    assert set(raw) == {"__encrypted__"} and raw["__encrypted__"]["alg"] == "AESGCM"
    assert ws.get_record("s", "pii") == {"ssn": "000-00-0000"}
    with pytest.raises(IntegrityError, match="cannot decrypt"):
        WarmStore(str(tmp_path), aes_key=key_from_material("wrong")).get_record("s", "pii")
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(IntegrityError, match=KEY_ENV):
        WarmStore(str(tmp_path)).get_record("s", "pii")


def test_key_material_rule() -> None:
    sha = lambda b: __import__("hashlib").sha256(b).digest()  # noqa: E731
    raw = bytes(range(32))
    assert key_from_material(base64.urlsafe_b64encode(raw).decode()) == sha(raw)
    assert key_from_material(base64.b64encode(b"\xfb\xff" * 8).decode()) == sha(b"\xfb\xff" * 8)  # '+/' : not urlsafe
    assert key_from_material(bytes(range(15)).hex()) == sha(bytes(range(15)))  # 30 hex digits: not base64
    # the service's order: 64 hex digits are valid base64 too, and are read as base64 first (as it does)
    assert key_from_material(raw.hex()) == sha(base64.b64decode(raw.hex()))
    assert key_from_material("plain words!") == __import__("hashlib").sha256(b"plain words!").digest()
    sealed = json.loads(seal(b"secret", KEY))
    assert open_envelope(sealed, KEY, "x") == b"secret"


def test_a_store_the_service_wrote_reads_back_as_its_old_decoder_returned(tmp_path: Path) -> None:
    written = make_warm_store(tmp_path, n=300, broken=0)
    ws = WarmStore(str(tmp_path), aes_key=key_from_material("memory-test-key"), track_access=False)
    for name, w in written.items():
        key, cls = split_name(name)
        want = w["payload"] if w["blob"] is w["payload"] or w["fidelity"] == "lossless" else old_canonical(w["payload"])[:2048]
        assert ws.get_record(key, cls) == want, name


def test_policy_defaults_and_yaml(tmp_path: Path) -> None:
    p = ClassPolicy()
    assert (p.rule("finance").domain, p.rule("finance").fidelity) == ("financial", "lossless")
    assert p.fidelity_of("legal") == p.fidelity_of("pii") == "lossless"
    assert p.fidelity_of("chat") == p.fidelity_of("ops_log") == p.fidelity_of("research_note") == p.fidelity_of("other") == "semantic"
    shipped = Path(__file__).parents[2] / "configs" / "class_policy.yaml"
    assert ClassPolicy.load(str(shipped)) == p
    custom = tmp_path / "p.yaml"
    custom.write_text("classes:\n  memo: {domain: legal, fidelity: lossless}\ndefault: {domain: general, fidelity: lossless}\n")
    assert ClassPolicy.load(str(custom)).rule("memo").domain == "legal"
    custom.write_text("classes:\n  memo: {domain: 'Bad Name', fidelity: lossless}\n")
    with pytest.raises(InputError, match="not valid"):
        ClassPolicy.load(str(custom))


def test_s3_store_with_old_blobs(s3_bucket: str, tmp_path: Path) -> None:
    written = make_warm_store(tmp_path, n=40, broken=0, sealed_every=2)
    s3 = Store(s3_bucket)
    for f in (tmp_path / "records").iterdir():
        s3.write_bytes(f"records/{f.name}", f.read_bytes())
    ws = WarmStore(s3_bucket, aes_key=key_from_material("memory-test-key"), track_access=False)
    assert len(ws.list_ids()) == 40
    name, w = next((n, w) for n, w in written.items() if w["fidelity"] == "lossless" and w["sealed"])
    assert ws.get_record(*split_name(name)) == w["payload"]
