"""Golden neural frames: payloads a committed tiny model coded once must decode bit-exactly forever, and
encode to the very same bytes. A numba / numpy / compiler upgrade that changed the bits on both sides
would pass every round-trip test and still break every stored neural frame: this test is what catches it."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "golden"))
from make_golden_neural import DIRS, golden_neural  # noqa: E402


@pytest.fixture(scope="module", params=sorted(DIRS), ids=lambda f: f"format-{f}")
def golden(request):  # type: ignore[no-untyped-def]
    """Every neural artifact format ever written: its committed model and the frames it coded."""
    here = DIRS[request.param]
    return golden_neural(here), json.loads((here / "frames.json").read_text())


@pytest.fixture
def codec(golden):  # type: ignore[no-untyped-def]
    return golden[0]


@pytest.fixture
def frames(golden):  # type: ignore[no-untyped-def]
    return golden[1]


def test_golden_payloads_decode_bit_exactly(codec, frames) -> None:  # type: ignore[no-untyped-def]
    assert len(frames) >= 12
    for f in frames:
        data = f["value"].encode()
        assert codec.decompress(bytes.fromhex(f["payload"]), len(data)) == data
        if "payload_ends" in f:  # format 9: the payload codes where the record ends (a frame without its length)
            assert codec.decompress_ends(bytes.fromhex(f["payload_ends"]), 1 << 16) == data


def test_encoding_still_gives_the_golden_bytes(codec, frames) -> None:  # type: ignore[no-untyped-def]
    for f in frames:
        assert codec.compress_unbounded(f["value"].encode()).hex() == f["payload"], f["value"][:40]
        if "payload_ends" in f:
            assert codec.compress_unbounded(f["value"].encode(), ends=True).hex() == f["payload_ends"], f["value"][:40]
    assert codec.codes_ends == any("payload_ends" in f for f in frames)  # formats 9 and 10, not before
    coded = sum(len(f["payload"]) // 2 for f in frames)
    raw = sum(len(f["value"].encode()) for f in frames)
    assert coded < raw / 2  # the model really predicts (a broken one would still round-trip)
