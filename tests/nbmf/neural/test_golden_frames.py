"""Golden neural frames: payloads a committed tiny model coded once must decode bit-exactly forever, and
encode to the very same bytes. A numba / numpy / compiler upgrade that changed the bits on both sides
would pass every round-trip test and still break every stored neural frame: this test is what catches it."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "golden"))
from make_golden_neural import HERE, golden_neural  # noqa: E402

FRAMES = json.loads((HERE / "frames.json").read_text())


@pytest.fixture(scope="module")
def codec():  # type: ignore[no-untyped-def]
    return golden_neural()


def test_golden_payloads_decode_bit_exactly(codec) -> None:  # type: ignore[no-untyped-def]
    assert len(FRAMES) >= 12
    for f in FRAMES:
        data = f["value"].encode()
        assert codec.decompress(bytes.fromhex(f["payload"]), len(data)) == data


def test_encoding_still_gives_the_golden_bytes(codec) -> None:  # type: ignore[no-untyped-def]
    for f in FRAMES:
        assert codec.compress_unbounded(f["value"].encode()).hex() == f["payload"], f["value"][:40]
    coded = sum(len(f["payload"]) // 2 for f in FRAMES)
    raw = sum(len(f["value"].encode()) for f in FRAMES)
    assert coded < raw / 2  # the model really predicts (a broken one would still round-trip)
