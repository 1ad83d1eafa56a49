import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbmf.errors import PayloadError
from nbmf.payload import Fidelity, PayloadType, canonical, fold_text, from_bytes, infer_type, to_bytes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@given(st.text())
def test_str_lossless_round_trip(s: str) -> None:
    assert from_bytes(to_bytes(s, PayloadType.STR, Fidelity.LOSSLESS), PayloadType.STR) == s


@given(st.binary())
def test_bytes_round_trip(b: bytes) -> None:
    for fid in Fidelity:
        assert from_bytes(to_bytes(b, PayloadType.BYTES, fid), PayloadType.BYTES) == b


@given(json_values)
def test_json_lossless_keeps_value_and_key_order(v: object) -> None:
    back = from_bytes(to_bytes(v, PayloadType.JSON, Fidelity.LOSSLESS), PayloadType.JSON)
    assert back == v
    assert type(back) is type(v)
    if isinstance(v, dict):
        assert list(back) == list(v)  # type: ignore[arg-type]


@given(json_values)
def test_json_semantic_is_sorted_compact_and_idempotent(v: object) -> None:
    once = to_bytes(v, PayloadType.JSON, Fidelity.SEMANTIC)
    again = to_bytes(from_bytes(once, PayloadType.JSON), PayloadType.JSON, Fidelity.SEMANTIC)
    assert once == again
    assert canonical(v, PayloadType.JSON, Fidelity.SEMANTIC) == v


@given(st.text())
def test_text_semantic_is_idempotent_and_never_truncated(s: str) -> None:
    c = canonical(s, PayloadType.STR, Fidelity.SEMANTIC)
    assert isinstance(c, str)
    assert canonical(c, PayloadType.STR, Fidelity.SEMANTIC) == c
    assert len(c) >= len("".join(fold_text(s).split(" "))) // 2  # meaning kept, not cut


def test_semantic_forms_documented() -> None:
    assert canonical("  a\t\n b  ", PayloadType.STR, Fidelity.SEMANTIC) == "a b"
    assert canonical("e\u0301", PayloadType.STR, Fidelity.SEMANTIC) == "\u00e9"
    assert to_bytes({"b": 1, "a": [1, 2]}, PayloadType.JSON, Fidelity.SEMANTIC) == b'{"a":[1,2],"b":1}'
    long = "word " * 5000
    assert len(canonical(long, PayloadType.STR, Fidelity.SEMANTIC)) == len(long) - 1


def test_floats_round_trip_exactly() -> None:
    for f in (0.1, -0.0, 1e308, 5e-324, 1 / 3):
        back = from_bytes(to_bytes(f, PayloadType.JSON, Fidelity.LOSSLESS), PayloadType.JSON)
        assert back == f and math.copysign(1, back) == math.copysign(1, f)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [(1, 2), {1: "a"}, {"a": {2, 3}}, float("nan"), float("inf"), [-math.inf], object()])
def test_lossless_json_refuses_what_would_change(bad: object) -> None:
    with pytest.raises(PayloadError):
        to_bytes(bad, PayloadType.JSON, Fidelity.LOSSLESS)


def test_infer_and_parse() -> None:
    assert infer_type("x") is PayloadType.STR and infer_type(b"x") is PayloadType.BYTES and infer_type([1]) is PayloadType.JSON
    assert Fidelity.parse("Semantic") is Fidelity.SEMANTIC
    with pytest.raises(PayloadError, match="unknown fidelity"):
        Fidelity.parse("lossy")
    with pytest.raises(PayloadError):
        to_bytes(b"x", PayloadType.STR, Fidelity.LOSSLESS)
