"""The memory service's old stub blobs: written exactly as its stub wrote them, read exactly as its decoder did.

    blob = {"meta": {"fidelity", "type", ...}, "code": <hex>, "sig": <sha256 hex>}
    lossless:  code = hex(zlib(json.dumps(payload)))       sig = sha256(json.dumps(payload, sort_keys=True))
               old decode: json.loads(zlib.decompress(code))  -> the value (a str comes back without quotes)
    semantic:  code = hex(canonical[:2048] as UTF-8)         sig = sha256(json.dumps(canonical))
               old decode: the preview text itself          -> always a str (a dict comes back as its JSON text)

Facts from shared/compat/README.md (docs/FORMAT.md, "Memory-service blobs"). nbmf adds what the old
decoder never did: ``sig`` is checked (a mismatch is a ``ChecksumError``), except on a semantic preview
cut at 2,048 characters, which cannot match and comes back ``truncated`` — its tail was never stored.
Inflation is bounded by ``max_bytes``, so a zlib bomb costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

from nbmf.errors import ChecksumError, FrameError, OversizeError, PayloadError
from nbmf.payload import Fidelity

PREVIEW_CHARS = 2048  # the old stub cut semantic previews here (characters, not bytes)
STUB_VERSIONS = ("stub", "production_placeholder")  # meta.encoder_version values coded as the stub codes
DEFAULT_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class StubDecoded:
    value: Any  # what the old decoder returned
    fidelity: Fidelity
    truncated: bool  # a semantic preview cut at 2,048 characters: the rest was never stored
    verified: bool  # checked against ``sig``


def old_canonical(payload: Any) -> str:
    """The old stub's semantic form: whitespace-split-joined text, or sorted-key JSON text."""
    if isinstance(payload, str):
        return " ".join(payload.split())
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def signature(value: Any) -> str:
    """``sig`` as the old stub computed it: sha256 of the sorted-key JSON of the value (a str is JSON-quoted)."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"value is not JSON-serialisable: {exc}") from None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def encode_stub_blob(payload: Any, fidelity: str = "semantic", **extra_meta: Any) -> dict[str, Any]:
    """A blob byte for byte as the old stub wrote it (tests, migration fixtures); ``extra_meta`` joins ``meta``."""
    fid = Fidelity.parse(fidelity)
    meta: dict[str, Any] = {"fidelity": fid.name.lower(), "type": type(payload).__name__}
    if fid is Fidelity.LOSSLESS:
        raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        code = zlib.compress(raw, 9)
        meta["length_bytes"] = len(code)
        sig = signature(payload)
    else:
        canonical = old_canonical(payload)
        preview = canonical[:PREVIEW_CHARS]
        code = preview.encode("utf-8")
        meta["preview_length"] = len(preview)
        sig = signature(canonical)
    meta.update(extra_meta)
    return {"meta": meta, "code": code.hex(), "sig": sig}


def parse_blob(blob: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """A blob (JSON text, bytes or a dict) as a dict with ``meta`` (object), ``code`` and ``sig`` (strings)."""
    if isinstance(blob, (bytes, bytearray, memoryview, str)):
        try:
            blob = json.loads(bytes(blob) if not isinstance(blob, str) else blob)
        except RecursionError:
            raise FrameError("blob JSON is nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameError(f"blob is not valid JSON: {exc}") from None
    if not isinstance(blob, dict) or not isinstance(blob.get("meta"), dict):
        raise FrameError("a blob is a JSON object with 'meta' (an object), 'code' and 'sig'")
    if not isinstance(blob.get("code"), str) or not isinstance(blob.get("sig"), str):
        raise FrameError("blob: 'code' and 'sig' must be hex strings")
    return blob


def _hex(code: str, what: str) -> bytes:
    try:
        return bytes.fromhex(code)
    except ValueError as exc:
        raise FrameError(f"{what}: 'code' is not hex: {exc}") from None


def _inflate(data: bytes, max_bytes: int) -> bytes:
    dec = zlib.decompressobj()
    try:
        out = dec.decompress(data, max_bytes + 1)  # bounded: a bomb stops at the limit
    except zlib.error as exc:
        raise FrameError(f"old stub blob: 'code' is not zlib data: {exc}") from None
    if len(out) > max_bytes:
        raise OversizeError(f"old stub blob inflates past the {max_bytes}-byte record limit")
    if not dec.eof:
        raise FrameError("old stub blob: zlib stream is truncated")
    return out


def _fidelity(meta: dict[str, Any], code: bytes) -> Fidelity:
    name = meta.get("fidelity")
    if name is None:  # not written by the stub we know; a zlib header (CMF 0x78) tells a lossless blob
        return Fidelity.LOSSLESS if code[:1] == b"\x78" else Fidelity.SEMANTIC
    if not isinstance(name, str):
        raise FrameError(f"blob: meta.fidelity must be a string, got {type(name).__name__}")
    try:
        return Fidelity.parse(name)
    except PayloadError as exc:
        raise FrameError(f"blob: {exc}") from None


def decode_stub_blob(blob: dict[str, Any], max_bytes: int = DEFAULT_MAX_BYTES) -> StubDecoded:
    """What the old decoder returned for ``blob`` (already parsed), with ``sig`` checked where it can be."""
    meta, sig = blob["meta"], blob["sig"].lower()
    if len(blob["code"]) > 2 * (max_bytes + 64):
        raise OversizeError(f"blob 'code' is over the {max_bytes}-byte record limit")
    code = _hex(blob["code"], "old stub blob")
    fidelity = _fidelity(meta, code)
    if fidelity is Fidelity.LOSSLESS:
        raw = _inflate(code, max_bytes)
        try:
            value = json.loads(raw)
        except RecursionError:
            raise FrameError("old stub blob: JSON nested too deeply to decode") from None
        except (ValueError, UnicodeDecodeError) as exc:  # ValueError covers ints past Python's digit limit
            raise FrameError(f"old stub blob: content is not valid JSON: {exc}") from None
        try:
            ok = signature(value) == sig
        except (PayloadError, RecursionError, ValueError):
            ok = False
        if not ok:
            raise ChecksumError("old stub blob: sha256 of its value does not match 'sig' (tampered or corrupt); refusing it")
        return StubDecoded(value, fidelity, truncated=False, verified=True)
    try:
        preview = code.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError(f"old semantic stub blob: preview is not UTF-8: {exc}") from None
    if signature(preview) == sig:
        return StubDecoded(preview, fidelity, truncated=False, verified=True)
    if len(preview) == PREVIEW_CHARS:  # cut by the old stub: the signature names text it never stored
        return StubDecoded(preview, fidelity, truncated=True, verified=False)
    raise ChecksumError("old semantic stub blob: preview does not match 'sig' and was not cut (tampered or corrupt); refusing it")
