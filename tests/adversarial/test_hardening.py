"""Issue #14, as an attacker or an unlucky operator would try it: each case failed on the old main."""

import gc
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from tests_support import serving_registry

sys.path.insert(0, str(Path(__file__).parents[1] / "golden"))

from nbmf import frame as fr
from nbmf.client import Client, retry_after_s
from nbmf.codec import NBMF
from nbmf.errors import OversizeError, PayloadError, RegistryError
from nbmf.payload import Fidelity, PayloadType
from nbmf.registry import Registry

WORDS = "the licensee shall keep every copyright notice intact in all copies of the software".split()


def test_decode_refuses_a_frame_claiming_more_than_the_record_limit(tmp_path: Path) -> None:
    reg = serving_registry(str(tmp_path), WORDS, broken=False)
    codec = NBMF(reg, max_record_bytes=1 << 20)
    model = codec.load("legal", 1)
    payload = b"\x00" * 16
    header = fr.Header(fr.CodecId.ZSTD_DICT, Fidelity.LOSSLESS, PayloadType.STR, 60 << 20, 0, model.ref)
    t0 = time.perf_counter()
    with pytest.raises(OversizeError):
        codec.decode(fr.pack(header, payload))  # a 2 KB zstd frame once decoded to 64 MiB
    assert time.perf_counter() - t0 < 5  # refused before any allocation (loose bound: not a timing test)


def test_deep_json_is_a_typed_error() -> None:
    deep: list = []  # deeper than Python's recursion limit: a RecursionError escaped as a 500 before
    cur = deep
    for _ in range(100_000):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(PayloadError):
        NBMF().encode(deep, payload_type="json")


def test_huge_ints_and_nan_are_refused_at_the_door() -> None:
    big = 10**5000
    with pytest.raises(PayloadError):
        NBMF().encode({"n": big}, payload_type="json")
    with pytest.raises(PayloadError):
        NBMF().encode({"x": float("nan")}, payload_type="json")
    frame = NBMF().encode("[" * 3000 + "]" * 3000, payload_type="str")
    header, payload = fr.unpack(frame)
    bad = fr.pack(fr.Header(header.codec, header.fidelity, PayloadType.JSON, header.length, header.checksum), payload)
    with pytest.raises(PayloadError):  # a stored frame whose JSON nests too deep: typed on the way out too
        NBMF().decode(bad)


def test_corrupt_channels_is_a_registry_error_and_encode_falls_back(tmp_path: Path) -> None:
    reg = serving_registry(str(tmp_path), WORDS, broken=False)
    reg.models.write_bytes("legal/channels.json", b'{"production": "not a number"}')
    with pytest.raises(RegistryError, match="corrupt"):
        reg.channels("legal")
    enc = NBMF(reg).encode_record("the licensee shall keep every notice", domain="legal")
    assert enc.codec is fr.CodecId.STUB_ZLIB or enc.codec is fr.CodecId.STORED
    assert enc.fallback and "corrupt" in enc.fallback


def test_an_unreachable_registry_never_fails_an_encode() -> None:
    codec = NBMF(Registry("s3://nowhere/nbmf?endpoint_override=http://127.0.0.1:9&region=us-east-1"))
    enc = codec.encode_record("a record that must not be lost " * 4, domain="legal")
    assert enc.fallback and codec.decode(enc.frame) == "a record that must not be lost " * 4


def test_the_canary_is_drawn_per_record(tmp_path: Path) -> None:
    reg = serving_registry(str(tmp_path), WORDS, broken=False)
    reg.promote("legal", 2, canary_percent=50)
    codec = NBMF(reg, channel_ttl_s=3600)
    rng = random.Random(0)
    versions = set()
    for _ in range(60):
        text = " ".join(rng.choice(WORDS) for _ in range(40))
        header, _ = fr.unpack(codec.encode(text, domain="legal"))
        if header.model is not None:
            versions.add(header.model.version)
    assert versions == {1, 2}  # one channel read, both versions used


def test_primed_states_die_with_their_model() -> None:
    from make_golden_neural import golden_neural

    from nbmf.neural import codec as neural

    gc.collect()
    before = set(neural._STATES)  # states other tests' models still hold (run in any order)
    c = golden_neural()
    mine = set(neural._STATES) - before
    assert mine
    del c
    gc.collect()
    assert not mine & set(neural._STATES)


def test_retry_after_as_seconds_or_http_date() -> None:
    assert retry_after_s("2") == 2.0 and retry_after_s(None) == 0.0 and retry_after_s("soon") == 0.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    assert 3.0 <= retry_after_s(later) <= 5.0
    assert retry_after_s("999999") == 30.0  # capped


def test_direct_client_sends_the_token_only_to_named_hosts() -> None:
    c = Client("http://127.0.0.1:1", token="t", direct=True)
    c.endpoints = lambda: ["http://127.0.0.1:30001", "http://evil.example:30002"]  # type: ignore[method-assign]
    assert c._target() == "http://127.0.0.1:30001" and c.targets == ["http://127.0.0.1:30001"]
    c.close()


def test_serve_config_refuses_an_empty_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from serve.schemas import ServeConfig

    with pytest.raises(ValueError, match="empty"):
        ServeConfig(auth_token="  ")
    monkeypatch.setenv("NBMF_AUTH_TOKEN", "from-env")
    assert ServeConfig().resolve_token() == "from-env"
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    assert ServeConfig(auth_token_file=str(secret)).resolve_token() == "from-file"
