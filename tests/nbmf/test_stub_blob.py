"""The memory service's old stub blobs: every shared test vector decodes to what the old decoder returned.

Vectors: tests/compat/stub_blobs.jsonl (a copy of shared/compat/stub_blobs.jsonl). Beyond the file, blobs
made by ``encode_stub_blob`` from generated payloads must equal the vectors byte for byte where they
overlap, and decode as the old decoder would (the format, not the file).
"""

import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbmf.codec import NBMF
from nbmf.errors import ChecksumError, FrameError, NBMFError, OversizeError
from nbmf.stub_blob import PREVIEW_CHARS, encode_stub_blob, old_canonical

VECTORS = [json.loads(line) for line in (Path(__file__).parents[1] / "compat" / "stub_blobs.jsonl").read_text().splitlines() if line]
plain = NBMF()


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON types all the way down (1 != 1.0 != True here)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and type(a) is type(b)


def old_decoder(blob: dict[str, Any]) -> Any:
    """The old stub's own decoder, as compat/README.md states it."""
    code = bytes.fromhex(blob["code"])
    if blob["meta"]["fidelity"] == "lossless":
        return json.loads(zlib.decompress(code))
    return code.decode("utf-8")


def test_there_are_vectors() -> None:
    assert len(VECTORS) >= 58


@pytest.mark.parametrize("vec", VECTORS, ids=[v["case"] for v in VECTORS])
def test_every_vector_decodes_to_what_the_old_decoder_returned(vec: dict[str, Any]) -> None:
    for form in (vec["blob"], json.dumps(vec["blob"]), json.dumps(vec["blob"]).encode()):
        d = plain.decode_record(form)
        assert _same(d.value, vec["decoded"]), vec["case"]
        assert d.codec == "legacy-stub" and d.fidelity.name.lower() == vec["fidelity"]
    cut = vec["fidelity"] == "semantic" and len(old_canonical(vec["payload"])) > PREVIEW_CHARS
    assert d.truncated == cut and d.verified == (not cut)


@pytest.mark.parametrize("vec", VECTORS, ids=[v["case"] for v in VECTORS])
def test_the_stub_encoder_writes_every_vector_byte_for_byte(vec: dict[str, Any]) -> None:
    assert encode_stub_blob(vec["payload"], vec["fidelity"]) == vec["blob"]


def test_placeholder_generations_decode_the_same() -> None:
    for vec in VECTORS[:12]:
        for version in ("stub", "production_placeholder"):
            blob = json.loads(json.dumps(vec["blob"]))
            blob["meta"].update(encoder_version=version, encoder_domain="general", device="cpu", device_type="cpu")
            assert _same(plain.decode(blob), vec["decoded"])


def test_a_tampered_lossless_blob_is_refused() -> None:
    blob = encode_stub_blob({"amount": 100, "to": "acct-1"}, "lossless")
    forged = json.dumps({"amount": 900, "to": "acct-1"}).encode()
    blob["code"] = zlib.compress(forged).hex()
    with pytest.raises(ChecksumError):
        plain.decode(blob)
    blob = encode_stub_blob("hello", "lossless")
    blob["sig"] = "0" * 64
    with pytest.raises(ChecksumError):
        plain.decode(blob)


def test_a_tampered_uncut_semantic_blob_is_refused_and_a_cut_one_says_truncated() -> None:
    blob = encode_stub_blob("short note about the meeting", "semantic")
    blob["code"] = b"short note about the MEETING".hex()
    with pytest.raises(ChecksumError):
        plain.decode(blob)
    long_text = "word " * 1000
    d = plain.decode_record(encode_stub_blob(long_text, "semantic"))
    assert d.truncated and not d.verified and d.value == old_canonical(long_text)[:PREVIEW_CHARS]


@pytest.mark.parametrize(
    "bad",
    [
        b"{not json",
        b'{"meta": {}, "code": "zz", "sig": "00"}',
        b'{"meta": {"fidelity": "lossless"}, "code": "00ff", "sig": "00"}',
        b'{"meta": {"fidelity": "chaotic"}, "code": "", "sig": ""}',
        b'{"meta": [], "code": "", "sig": ""}',
        b'{"meta": {"fidelity": "semantic"}, "code": "ff", "sig": ""}',
        b'{"meta": {"encoder_version": "nbmf/9"}, "code": "", "sig": ""}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_blobs_are_typed_errors(bad: bytes) -> None:
    with pytest.raises(FrameError):
        plain.decode(bad)


def test_inflation_is_bounded_by_the_record_limit() -> None:
    bomb = json.dumps("x" * 5_000_000).encode()  # 5 MB of JSON in a ~5 KB zlib stream
    blob = {"meta": {"fidelity": "lossless", "type": "str"}, "code": zlib.compress(bomb, 9).hex(), "sig": "0" * 64}
    with pytest.raises(OversizeError):
        NBMF(max_record_bytes=1 << 20).decode(blob)
    huge_int = {"meta": {"fidelity": "lossless"}, "code": zlib.compress(b"9" * 5000).hex(), "sig": "0" * 64}
    with pytest.raises(NBMFError):
        plain.decode(huge_int)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["lossless", "semantic"]))
def test_generated_blobs_decode_as_the_old_decoder_did(value: Any, fidelity: str) -> None:
    try:
        blob = encode_stub_blob(value, fidelity)
    except UnicodeEncodeError:  # lone surrogates: the old stub could not write these either
        return
    d = plain.decode_record(blob)
    assert _same(d.value, old_decoder(blob))


def test_cli_decodes_every_vector(tmp_path: Path) -> None:
    for vec in VECTORS[::3]:
        path = tmp_path / "blob.json"
        path.write_text(json.dumps(vec["blob"]))
        r = subprocess.run([sys.executable, "-m", "nbmf.cli", "decode", str(path), "--json"], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert _same(out["payload"], vec["decoded"]) and out["codec"] == "legacy-stub"
        assert out["truncated"] == (not out["verified"])
