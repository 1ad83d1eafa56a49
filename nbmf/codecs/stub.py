"""The stub codec inside NBMF frames: raw deflate, level 9 (codec id 1).

The memory service's old stub *blobs* (JSON objects) are a different thing: ``nbmf.stub_blob``.
"""

from __future__ import annotations

import zlib

from nbmf.errors import CodecError
from nbmf.frame import CodecId, ModelRef


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
