"""The codec interface: bytes -> payload bytes and back, given the original length."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from nbmf.errors import CodecError
from nbmf.frame import CodecId, ModelRef


@runtime_checkable
class Codec(Protocol):
    codec_id: CodecId
    model: ModelRef | None

    def compress(self, data: bytes) -> bytes: ...

    def decompress(self, payload: bytes, length: int) -> bytes: ...


class StoredCodec:
    """No compression: the floor that bounds every frame at original size + header."""

    codec_id = CodecId.STORED
    model: ModelRef | None = None

    def compress(self, data: bytes) -> bytes:
        return data

    def decompress(self, payload: bytes, length: int) -> bytes:
        if len(payload) != length:
            raise CodecError(f"stored payload has {len(payload)} bytes, frame says {length}")
        return payload
