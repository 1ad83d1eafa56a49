import threading

import pytest

from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.codecs.zstd_dict import train_dictionary
from nbmf.errors import IntegrityError, ModelNotFoundError, RegistryError
from nbmf.frame import CodecId
from nbmf.registry import Registry

SAMPLES = [f"record {i}: the licensee shall keep notice {i * 7} of the agreement".encode() * 3 for i in range(200)]


@pytest.fixture(scope="module")
def dictionary() -> bytes:
    return train_dictionary(SAMPLES, 2048)


def test_publish_resolve_promote_rollback(storage_uri: str, dictionary: bytes) -> None:
    reg = Registry(storage_uri)
    m1 = reg.publish("legal", {"zstd.dict": dictionary}, config={"a": 1}, metrics={"ratio": 2.0})
    m2 = reg.publish("legal", {"zstd.dict": dictionary + b""}, config={"a": 2})
    assert (m1.version, m2.version) == (1, 2) and reg.versions("legal") == [1, 2]
    assert reg.domains() == ["legal"]
    man, files = reg.load_files("legal", 1)
    assert files["zstd.dict"] == dictionary and man.config == {"a": 1}
    assert reg.find(m2.ref).version == 2

    assert reg.serving_version("legal") is None
    reg.promote("legal", 1)
    reg.promote("legal", 2, canary_percent=25)
    assert reg.serving_version("legal", draw=10) == 2 and reg.serving_version("legal", draw=50) == 1
    reg.promote("legal", 2)
    ch = reg.channels("legal")
    assert ch.production == 2 and ch.canary is None
    reg.rollback("legal", reason="bad ratio")
    assert reg.channels("legal").production == 1
    with pytest.raises(RegistryError, match="nothing to roll back"):
        reg.rollback("legal")
    assert [h.action for h in reg.channels("legal").history] == ["promote", "canary", "promote", "rollback"]

    # frames of every version keep decoding after channel moves
    codec = NBMF(reg)
    frame = codec.encode("the licensee shall keep notice 3 of the agreement " * 3, domain="legal")
    assert NBMF(reg).decode(frame) == "the licensee shall keep notice 3 of the agreement " * 3
    assert reg.describe()["legal"]["production"] == 1


def test_unknown_version_and_domain(tmp_path: object) -> None:
    reg = Registry(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="legal@7"):
        reg.manifest("legal", 7)
    with pytest.raises(RegistryError, match="bad domain"):
        reg.versions("../etc")


def test_tampered_artifact_is_refused(storage_uri: str, dictionary: bytes) -> None:
    reg = Registry(storage_uri)
    reg.publish("tech", {"zstd.dict": dictionary})
    reg.models.write_bytes("tech/1/zstd.dict", dictionary[:-1] + b"\0")
    with pytest.raises(IntegrityError, match="sha256"):
        DomainModel.load(reg, "tech", 1)


def test_concurrent_promotions_lose_no_update(storage_uri: str, dictionary: bytes) -> None:
    reg = Registry(storage_uri)
    versions = [reg.publish("fin", {"zstd.dict": dictionary}).version for _ in range(3)]
    errors: list[BaseException] = []

    def worker(v: int) -> None:
        try:
            for _ in range(4):
                Registry(storage_uri).promote("fin", v, reason=f"t{v}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(reg.channels("fin").history) == 12  # every promotion recorded: none lost


def test_concurrent_publishers_get_distinct_versions(storage_uri: str, dictionary: bytes) -> None:
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        v = Registry(storage_uri).publish("gen", {"zstd.dict": dictionary}).version
        with lock:
            got.append(v)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == [1, 2, 3, 4]
    reg = Registry(storage_uri)
    assert sorted(reg.manifest("gen", v).serial or 0 for v in got) == [1, 2, 3, 4]  # and distinct serials


def test_publish_numbers_every_version_across_domains_and_finds_it_by_serial(tmp_path, dictionary: bytes) -> None:  # type: ignore[no-untyped-def]
    from nbmf.frame import ModelRef

    reg = Registry(str(tmp_path))
    mans = [reg.publish(d, {"zstd.dict": dictionary}) for d in ("legal", "financial", "legal")]
    assert [(m.domain, m.version, m.serial) for m in mans] == [("legal", 1, 1), ("financial", 1, 2), ("legal", 2, 3)]
    assert all(m.ref.serial == m.serial for m in mans) and reg.manifest("financial", 1).serial == 2
    assert [(m.domain, m.version) for m in reg.find_all(ModelRef.by_serial(2))] == [("financial", 1)]
    with pytest.raises(ModelNotFoundError, match="serial 4"):
        reg.find(ModelRef.by_serial(4))
    # a serial claimed by a publisher that died before its manifest: not a model
    reg.models.write_bytes(".refs/serial-4", b"legal/3")
    with pytest.raises(ModelNotFoundError, match="no model legal@3"):
        reg.find(ModelRef.by_serial(4))
    reg.models.write_bytes(".refs/serial-5", b"legal/1")  # a claim that does not match the manifest's serial
    with pytest.raises(ModelNotFoundError, match="manifest says 1"):
        reg.find(ModelRef.by_serial(5))
    assert reg.publish("technical", {"zstd.dict": dictionary}).serial == 6  # the next free one


def test_artifact_builds_zstd_codec(tmp_path: object, dictionary: bytes) -> None:
    reg = Registry(str(tmp_path))
    reg.publish("legal", {"zstd.dict": dictionary})
    model = DomainModel.load(reg, "legal", 1)
    assert CodecId.ZSTD_DICT in model.codecs


def _colliding_domains() -> tuple[str, str]:
    from nbmf.frame import domain_tag

    seen: dict[int, str] = {}
    for i in range(10_000):
        name = f"dom{i}"
        if domain_tag(name) in seen:
            return seen[domain_tag(name)], name
        seen[domain_tag(name)] = name
    raise AssertionError("no two names share a tag")


def _files_with_prefix(prefix: bytes, dictionary: bytes) -> dict[str, bytes]:
    """zstd.dict plus a filler file, chosen so the artifact hash starts with ``prefix`` (~65K tries)."""
    import hashlib

    from nbmf.registry import artifact_hash

    dict_hash = hashlib.sha256(dictionary).hexdigest()
    for i in range(2_000_000):
        filler = str(i).encode()
        h = artifact_hash({"zstd.dict": dict_hash, "filler": hashlib.sha256(filler).hexdigest()})
        if bytes.fromhex(h)[:2] == prefix:
            return {"zstd.dict": dictionary, "filler": filler}
    raise AssertionError("no filler found")


def test_publish_keeps_tag_and_version_unique_and_decode_picks_the_one_that_verifies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import random

    from nbmf.artifact import DomainModel
    from nbmf.codec import NBMF
    from nbmf.codecs.zstd_dict import train_dictionary
    from nbmf.frame import FORMAT_VERSION, unpack
    from nbmf.registry import Manifest, artifact_hash

    a, b = _colliding_domains()
    rng = random.Random(0)
    words_a, words_b = "alpha beta gamma delta epsilon".split(), "zeta eta theta iota kappa".split()
    dict_a = train_dictionary([" ".join(rng.choice(words_a) for _ in range(40)).encode() for _ in range(200)], 2048)
    dict_b = train_dictionary([" ".join(rng.choice(words_b) for _ in range(40)).encode() for _ in range(200)], 2048)
    reg = Registry(str(tmp_path))
    man_a = reg.publish(a, {"zstd.dict": dict_a})
    man_b = reg.publish(b, {"zstd.dict": dict_b})  # same tag: (tag, version) is taken, so b skips to version 2
    assert (man_a.version, man_b.version) == (1, 2) and reg.versions(b) == [2]
    assert reg.publish(b, {"zstd.dict": dict_b + b" "}).version == 3
    assert reg.publish(a, {"zstd.dict": dict_a + b" "}).version == 4  # a's next: 2 and 3 are b's
    assert not reg.shares_ref(a, 1) and DomainModel.load(reg, a, 1).frame_version == FORMAT_VERSION

    # a registry written before this check: two colliding versions written by hand; decode tries both
    def write(domain: str, version: int, files: dict[str, bytes]) -> Manifest:
        hashes = {n: __import__("hashlib").sha256(d).hexdigest() for n, d in files.items()}
        for n, d in files.items():
            reg.models.write_bytes(f"{domain}/{version}/{n}", d)
        man = Manifest(domain=domain, version=version, created_at="2026-01-01", files=hashes, artifact_hash=artifact_hash(hashes))
        reg.models.write_bytes(f"{domain}/{version}/manifest.json", man.model_dump_json().encode())
        return man

    old_a = write(a, 9, {"zstd.dict": dict_a})
    old_b = write(b, 9, _files_with_prefix(old_a.ref.hash_prefix, dict_b))
    assert old_a.ref == old_b.ref and len(reg.find_all(old_b.ref)) == 2
    for domain, words in ((a, words_a), (b, words_b)):
        text = " ".join(rng.choice(words) for _ in range(60))
        model = DomainModel.load(reg, domain, 9)
        assert model.frame_version == 1  # a shared (tag, version): its frames keep the hash prefix
        frame = NBMF(model=model).encode(text, domain=domain)
        assert unpack(frame)[0].codec.name == "ZSTD_DICT" and unpack(frame)[0].version == 1
        assert NBMF(reg).decode(frame) == text  # a fresh codec: both candidates loaded, the verifying one wins


def test_signed_manifests(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    import pytest

    from nbmf.errors import IntegrityError
    from nbmf.registry import MANIFEST_KEY_ENV

    reg = Registry(str(tmp_path))
    unsigned = reg.publish("legal", {"zstd.dict": b"d" * 2000})
    monkeypatch.setenv(MANIFEST_KEY_ENV, "k3y")
    signed = reg.publish("legal", {"zstd.dict": b"e" * 2000})
    assert signed.signature and reg.load_files("legal", signed.version)
    with pytest.raises(IntegrityError, match="not signed"):
        reg.manifest("legal", unsigned.version)
    # someone with write access swaps the model and re-hashes the manifest, without the key
    raw = json.loads(reg.models.read_bytes(f"legal/{signed.version}/manifest.json"))
    raw["config"] = {"swapped": True}
    reg.models.write_bytes(f"legal/{signed.version}/manifest.json", json.dumps(raw).encode())
    with pytest.raises(IntegrityError, match="does not verify"):
        reg.load_files("legal", signed.version)
    monkeypatch.delenv(MANIFEST_KEY_ENV)
    assert reg.manifest("legal", signed.version).config == {"swapped": True}  # without a key: not checked


def test_a_manifest_signed_before_serials_existed_still_verifies(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from nbmf.registry import MANIFEST_KEY_ENV, Manifest, _sign

    reg = Registry(str(tmp_path))
    monkeypatch.setenv(MANIFEST_KEY_ENV, "k3y")
    man = reg.publish("legal", {"zstd.dict": b"d" * 2000})
    # what a publisher before frame version 5 wrote: no serial field, signed over the rest
    raw = json.loads(reg.models.read_bytes("legal/1/manifest.json"))
    del raw["serial"], raw["signature"]
    old = Manifest.model_validate(raw)
    assert b"serial" not in old.signed_bytes()
    raw["signature"] = _sign(old, b"k3y")
    reg.models.write_bytes("legal/1/manifest.json", json.dumps(raw).encode())
    back = reg.manifest("legal", 1)
    assert back.serial is None and back.ref.serial is None and man.serial == 1
    assert DomainModel.load(reg, "legal", 1).ref.serial is None  # its frames stay version 4
    # the serial is not signed: a reader that predates it verifies a new manifest the same way
    assert man.signed_bytes() == man.model_copy(update={"serial": None}).signed_bytes()
