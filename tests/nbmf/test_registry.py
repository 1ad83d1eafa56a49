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


def test_artifact_builds_zstd_codec(tmp_path: object, dictionary: bytes) -> None:
    reg = Registry(str(tmp_path))
    reg.publish("legal", {"zstd.dict": dictionary})
    model = DomainModel.load(reg, "legal", 1)
    assert CodecId.ZSTD_DICT in model.codecs
