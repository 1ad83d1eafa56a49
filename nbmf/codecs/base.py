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


@runtime_checkable
class EndCoding(Protocol):
    """A codec whose payload can also code where the record ends, so its frame needs no length (frame
    version 4): the neural codec of an artifact of format 9."""

    @property
    def codes_ends(self) -> bool: ...

    def compress_ends(self, data: bytes) -> bytes: ...

    def decompress_ends(self, payload: bytes, max_length: int) -> bytes: ...


def codes_ends(codec: object) -> bool:
    """Whether ``codec`` can write a frame without a length (``EndCoding`` and its model can)."""
    return isinstance(codec, EndCoding) and codec.codes_ends


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
