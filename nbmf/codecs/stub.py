"""The stub codec (zlib) and the old stub blobs it replaced, which must keep decoding forever.

Old blob (JSON text): ``{"meta": {"fidelity", "type", ...}, "code": hex(zlib(data)), "sig": sha256 hex}``
where ``sig`` is the sha256 of the full serialized payload; ``semantic`` blobs stored the
whitespace-folded text cut at 2048 characters, so a cut preview cannot match its signature and is
returned marked ``truncated`` (docs/FORMAT.md, "Legacy stub blobs").
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

from nbmf.errors import ChecksumError, CodecError, FrameError
from nbmf.frame import CodecId, ModelRef
from nbmf.payload import Fidelity, Payload, PayloadType, fold_text, infer_type

LEGACY_PREVIEW_CHARS = 2048


class StubCodec:
    """Raw deflate at level 9 (no zlib header: the frame already has length and checksum)."""

    codec_id = CodecId.STUB_ZLIB
    model: ModelRef | None = None

    def compress(self, data: bytes) -> bytes:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
        return comp.compress(data) + comp.flush()

    def decompress(self, payload: bytes, length: int) -> bytes:
        dec = zlib.decompressobj(-15)
        try:
            out = dec.decompress(payload, length + 1)  # bounded: a bomb cannot blow up memory
        except zlib.error as exc:
            raise CodecError(f"zlib payload is corrupt: {exc}") from None
        if len(out) != length or not dec.eof or dec.unused_data:
            raise CodecError(f"zlib payload does not decode to exactly {length} bytes")
        return out


@dataclass(frozen=True)
class LegacyDecoded:
    value: Payload
    payload_type: PayloadType
    fidelity: Fidelity
    truncated: bool


def _legacy_bytes(value: Any, ptype: PayloadType) -> bytes:
    if ptype is PayloadType.BYTES:
        return bytes(value)
    if ptype is PayloadType.STR:
        return str(value).encode("utf-8")
    return json.dumps(value).encode("utf-8")


def encode_legacy_blob(value: Any, fidelity: str = "lossless") -> dict[str, Any]:
    """Write a blob exactly as the old stub did (used by tests and migration tooling)."""
    ptype = infer_type(value)
    full = _legacy_bytes(value, ptype)
    if fidelity == "semantic":
        folded = fold_text(full.decode("utf-8", "replace"))
        full = folded.encode("utf-8")
        stored = folded[:LEGACY_PREVIEW_CHARS].encode("utf-8")
    else:
        stored = full
    return {
        "meta": {"fidelity": fidelity, "type": ptype.name.lower(), "codec": "zlib"},
        "code": zlib.compress(stored).hex(),
        "sig": hashlib.sha256(full).hexdigest(),
    }


def decode_legacy_blob(blob: bytes | str | dict[str, Any]) -> LegacyDecoded:
    """Decode an old stub blob, checking its sha256 wherever the old format makes that possible."""
    if isinstance(blob, (bytes, str)):
        try:
            blob = json.loads(blob)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameError(f"old stub blob is not valid JSON: {exc}") from None
    if not isinstance(blob, dict) or not isinstance(blob.get("meta"), dict):
        raise FrameError("old stub blob needs an object with 'meta', 'code' and 'sig'")
    meta, code, sig = blob["meta"], blob.get("code"), blob.get("sig")
    if not isinstance(code, str) or not isinstance(sig, str):
        raise FrameError("old stub blob: 'code' and 'sig' must be hex strings")
    fidelity = Fidelity.parse(str(meta.get("fidelity", "lossless")))
    ptype = PayloadType.parse(str(meta.get("type", "str")))
    try:
        data = zlib.decompress(bytes.fromhex(code))
    except (ValueError, zlib.error) as exc:
        raise FrameError(f"old stub blob: 'code' is not hex zlib data: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    truncated = False
    if digest != sig.lower():
        text = data.decode("utf-8", "replace")
        # Only a semantic preview cut at exactly the preview limit may differ from its signature.
        if fidelity is Fidelity.SEMANTIC and len(text) == LEGACY_PREVIEW_CHARS:
            truncated = True
        else:
            raise ChecksumError("old stub blob: sha256 of its content does not match 'sig'")
    if truncated:
        return LegacyDecoded(data.decode("utf-8", "replace"), PayloadType.STR, fidelity, True)
    if ptype is PayloadType.BYTES:
        return LegacyDecoded(data, ptype, fidelity, False)
    try:
        text = data.decode("utf-8")
        value: Payload = json.loads(text) if ptype is PayloadType.JSON and fidelity is Fidelity.LOSSLESS else text
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"old stub blob: content is not valid {ptype.name.lower()}: {exc}") from None
    # A semantic JSON blob stored folded JSON *text*; it stays text (its folded form may not parse).
    return LegacyDecoded(
        value, ptype if isinstance(value, (dict, list)) or ptype is not PayloadType.JSON else PayloadType.STR, fidelity, False
    )
