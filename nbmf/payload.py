"""Payloads <-> bytes, for both fidelities.

    value --(fidelity)--> canonical bytes --(codec)--> frame payload
    lossless: str -> UTF-8 (surrogatepass), bytes -> as is, JSON -> json.dumps keeping key order
    semantic: str -> NFC + whitespace folded, JSON -> sorted keys + compact separators, bytes -> as is
Semantic never truncates; both forms are then coded losslessly.
"""

from __future__ import annotations

import enum
import json
import math
import re
import unicodedata
from typing import Any, Union

from nbmf.errors import PayloadError

JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]
Payload = Union[str, bytes, JSONValue]

_WS = re.compile(r"\s+")


class Fidelity(enum.IntEnum):
    LOSSLESS = 0
    SEMANTIC = 1

    @classmethod
    def parse(cls, name: str | Fidelity) -> Fidelity:
        if isinstance(name, Fidelity):
            return name
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise PayloadError(f"unknown fidelity {name!r}: use 'lossless' or 'semantic'") from None


class PayloadType(enum.IntEnum):
    STR = 0
    JSON = 1
    BYTES = 2

    @classmethod
    def parse(cls, name: str | PayloadType) -> PayloadType:
        if isinstance(name, PayloadType):
            return name
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise PayloadError(f"unknown payload type {name!r}: use 'str', 'json' or 'bytes'") from None


def infer_type(value: Any) -> PayloadType:
    """``str`` -> STR, ``bytes`` -> BYTES, anything else -> JSON."""
    if isinstance(value, str):
        return PayloadType.STR
    if isinstance(value, (bytes, bytearray, memoryview)):
        return PayloadType.BYTES
    return PayloadType.JSON


def fold_text(text: str) -> str:
    """The semantic form of text: Unicode NFC, runs of whitespace folded to one space, ends stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _check_json(value: Any, path: str = "$") -> None:
    # Lossless JSON must come back *equal and of the same type*: refuse what json would change.
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):  # NaN != NaN, and JSON (RFC 8259) has neither NaN nor Infinity
            raise PayloadError(f"{value} at {path} is not a JSON number and cannot round-trip as an equal value")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(f"JSON object key {key!r} at {path} is not a string")
            _check_json(item, f"{path}.{key}")
        return
    raise PayloadError(f"{type(value).__name__} at {path} is not a JSON value (dict, list, str, int, float, bool, None)")


def to_bytes(value: Any, payload_type: PayloadType, fidelity: Fidelity) -> bytes:
    """Serialize ``value`` to the exact bytes a codec will code."""
    if payload_type is PayloadType.BYTES:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise PayloadError(f"payload type 'bytes' needs bytes, got {type(value).__name__}")
        return bytes(value)
    if payload_type is PayloadType.STR:
        if not isinstance(value, str):
            raise PayloadError(f"payload type 'str' needs str, got {type(value).__name__}")
        if fidelity is Fidelity.SEMANTIC:
            value = fold_text(value)
        return str(value).encode("utf-8", "surrogatepass")
    try:
        _check_json(value)
        if fidelity is Fidelity.SEMANTIC:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        raise PayloadError("JSON value is nested too deeply to code") from None
    except ValueError as exc:  # e.g. an int past Python's 4,300-digit conversion limit
        raise PayloadError(f"JSON value cannot be serialised: {exc}") from None
    return text.encode("utf-8", "surrogatepass")


def from_bytes(data: bytes, payload_type: PayloadType) -> Payload:
    """Inverse of :func:`to_bytes` (for either fidelity: the semantic form is already canonical)."""
    if payload_type is PayloadType.BYTES:
        return data
    try:
        text = data.decode("utf-8", "surrogatepass")
        if payload_type is PayloadType.STR:
            return text
        return json.loads(text)  # type: ignore[no-any-return]
    except RecursionError:
        raise PayloadError("decoded JSON is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: bad JSON, or an int past the digit limit
        raise PayloadError(f"decoded bytes are not valid {payload_type.name.lower()}: {exc}") from None


def canonical(value: Any, payload_type: PayloadType, fidelity: Fidelity) -> Payload:
    """What a decode of ``value`` at ``fidelity`` returns (the documented canonical form)."""
    return from_bytes(to_bytes(value, payload_type, fidelity), payload_type)
