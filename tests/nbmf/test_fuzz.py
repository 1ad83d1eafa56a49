"""Structure-aware decode fuzz: valid headers with mutated payloads for every codec (stored, stub, zstd,
neural), old stub blobs and nbmf blobs with mutated fields, nested JSON, lone surrogates, random bytes.
Every input must decode or raise an ``NBMFError`` subclass, quickly; never anything else, never a hang.
``bench/fuzz_decode.py`` runs the same generator for a million inputs and reports peak RSS."""

import dataclasses
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nbmf import frame as fr
from nbmf import memory
from nbmf.codec import NBMF
from nbmf.errors import NBMFError
from nbmf.payload import Fidelity, PayloadType

sys.path.insert(0, str(Path(__file__).parents[1] / "golden"))
from make_golden import golden_model  # noqa: E402
from make_golden_neural import DIRS, golden_neural, texts  # noqa: E402

VECTORS = [json.loads(x) for x in (Path(__file__).parents[1] / "compat" / "stub_blobs.jsonl").read_text().splitlines() if x]
TEXT = "the party agreement license shall any software notice "


def make_codec(max_record_bytes: int = 1 << 16, neural_format: int = 1, serial: int | None = None) -> NBMF:
    """The golden zstd model plus a golden neural codec (of artifact format ``neural_format``) under one
    domain model (both decode by reference). Format 9's neural frames are version 4: no length; with a
    registry ``serial``, version 5."""
    model = golden_model()
    if serial is not None:
        model.ref = dataclasses.replace(model.ref, serial=serial)
        model.codecs[fr.CodecId.ZSTD_DICT].model = model.ref
    neural = golden_neural(DIRS[neural_format])
    neural.model = model.ref
    model.codecs[fr.CodecId.NEURAL] = neural
    return NBMF(model=model, max_record_bytes=max_record_bytes)


def _seeds(codec: NBMF) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    model = codec.model
    assert model is not None
    # (the JSON with a note: records the neural codec of format 18's tiny golden model wins, as it no longer wins the
    # short JSON or the 200 distinct bytes: its fourth mixer's weight sets are barely primed by a 40 KB reference; and
    # two records of the golden models' own kind of text, which format 20's, its fifth mixer's sets barely primed too,
    # still wins where it no longer wins the JSON with a note in a frame without a serial)
    notes = ({"note": TEXT}, {"k": [1, 2, "three"], "n": {"x": None}, "note": TEXT})
    own = tuple(t.decode() for t in texts(4, 2, lines=True, nums=True))
    for value in (TEXT * 6, {"k": [1, 2, "three"], "n": {"x": None}}, *notes, *own, bytes(range(200)), "hello", "[" * 50 + "]" * 50):
        out.append(("frame", codec.encode(value)))
    for cid in (fr.CodecId.STORED, fr.CodecId.STUB_ZLIB, fr.CodecId.ZSTD_DICT, fr.CodecId.NEURAL):
        data = (TEXT * 4).encode()
        c = {fr.CodecId.STORED: None, fr.CodecId.STUB_ZLIB: None}.get(cid, model.codecs.get(cid))
        payload = data if cid is fr.CodecId.STORED else (c.compress(data) if c is not None else __import__("zlib").compress(data)[2:-4])
        ref = model.ref if cid in (fr.CodecId.ZSTD_DICT, fr.CodecId.NEURAL) else None
        out.append(("frame", fr.pack(fr.Header(cid, Fidelity.LOSSLESS, PayloadType.STR, len(data), fr.checksum(data), ref), payload)))
    for v in VECTORS[::4]:
        out.append(("blob", v["blob"]))
    out.append(("blob", memory.encode_blob(codec, {"note": TEXT}, "lossless", "golden")))
    out.append(("blob", memory.encode_blob(codec, TEXT * 3, "semantic", "golden")))
    return out


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.random()
    if kind < 0.1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    if kind < 0.25:
        return bytes(b[: rng.randint(0, len(b))])
    if kind < 0.35 and len(b) > 2:  # keep the header, rewrite the claimed length (varint at byte 2)
        n = rng.choice([0, 1, 127, 128, 1 << 16, (1 << 20) + 1, 60 << 20, 2**35])
        head = bytearray(b[:2])
        fr._put_varint(head, n)
        return bytes(head) + bytes(b[2 + 1 :])
    if kind < 0.45:
        return bytes(b) + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 32)))
    for _ in range(rng.randint(1, 4)):
        if b:
            b[rng.randrange(len(b))] = rng.getrandbits(8)
    return bytes(b)


def _mutate_blob(rng: random.Random, blob: dict[str, Any]) -> Any:
    b = json.loads(json.dumps(blob))
    kind = rng.random()
    if kind < 0.2:
        b["code"] = _mutate_bytes(rng, b["code"].encode()).decode("latin-1")
    elif kind < 0.35:
        b["sig"] = rng.choice(["", "0" * 64, b["sig"][::-1], 5])
    elif kind < 0.5:
        b["meta"][rng.choice(["fidelity", "type", "encoder_version", "length_bytes"])] = rng.choice(
            [None, "semantic", "lossless", "nbmf/1", "nbmf/2", "stub", 3, [], {"x": 1}]
        )
    elif kind < 0.6:
        return rng.choice([[], "x", None, {"meta": b["meta"]}, {"meta": [], "code": "", "sig": ""}])
    elif kind < 0.7:  # nested JSON and lone surrogates inside the JSON text
        depth = rng.choice([10, 1000, 100_000])
        return '{"meta": ' + "[" * depth + "]" * depth + ', "code": "", "sig": ""}'
    elif kind < 0.8:
        return json.dumps(b)[: rng.randint(0, 200)]
    else:
        text = json.dumps(b)
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(["\\ud800", "\ud800", "\x00", "9" * 5000, "\\u0000"]) + text[i:]
    return b


def fuzz(n: int, seed: int, codec: NBMF | None = None, on_case: Callable[[float], None] | None = None) -> dict[str, int]:
    """Decode ``n`` generated inputs; returns counts. Raises AssertionError on an untyped error or a slow case."""
    rng = random.Random(seed)
    codec = codec or make_codec()
    seeds = _seeds(codec)
    counts = {"inputs": 0, "decoded": 0, "refused": 0}
    for _ in range(n):
        kind, base = rng.choice(seeds)
        data = _mutate_bytes(rng, base) if kind == "frame" else _mutate_blob(rng, base)
        t0 = time.monotonic()
        try:
            codec.decode(data)
            counts["decoded"] += 1
        except NBMFError:
            counts["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - the point: anything else is a bug
            raise AssertionError(f"untyped {type(exc).__name__}: {exc} on {str(data)[:300]!r}") from exc
        elapsed = time.monotonic() - t0
        assert elapsed < 2.0, f"decode took {elapsed:.1f} s on {str(data)[:300]!r}"
        if on_case is not None:
            on_case(elapsed)
        counts["inputs"] += 1
    return counts


def test_structure_aware_decode_fuzz() -> None:
    counts = fuzz(4000, seed=1)
    assert counts["inputs"] == 4000 and counts["decoded"] > 100 and counts["refused"] > 1000


@pytest.mark.parametrize("version", [4, 5])
def test_frames_without_a_length_fuzz(version: int) -> None:
    """Version 4 and 5 frames (a model's of format 9 or later: the payload codes the record's end; v5: named by
    its registry serial) mutated the same ways: a decoder that has no length to stop at must still refuse
    garbage quickly and with a typed error. The newest golden model (format 11: its line and number contexts too)."""
    codec = make_codec(neural_format=max(DIRS), serial=None if version == 4 else 1)
    v4 = [f for kind, f in _seeds(codec) if kind == "frame" and fr.unpack(f)[0].version == version]
    assert len(v4) >= 2  # the neural codec won those records, so their frames carry no length
    counts = fuzz(3000, seed=2, codec=codec)
    assert counts["inputs"] == 3000 and counts["decoded"] > 100 and counts["refused"] > 1000
