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
    version 4): the neural codec of an artifact of format 9 or later."""

    @property
    def codes_ends(self) -> bool: ...

    def compress_ends(self, data: bytes) -> bytes: ...

    def decompress_ends(self, payload: bytes, max_length: int) -> bytes: ...


def codes_ends(codec: object) -> bool:
    """Whether ``codec`` can write a frame without a length (``EndCoding`` and its model can)."""
    return isinstance(codec, EndCoding) and codec.codes_ends


def compress_with(codec: Codec, data: bytes, ends: bool) -> bytes:
    """``codec``'s payload for ``data``; with ``ends``, one that also codes where the record ends (frame version 4)."""
    if not ends:
        return codec.compress(data)
    if not (isinstance(codec, EndCoding) and codec.codes_ends):
        raise CodecError(f"codec {codec.codec_id.name} cannot code where a record ends: write a frame with its length")
    return codec.compress_ends(data)


def decompress_with(codec: Codec, payload: bytes, length: int | None, max_length: int) -> bytes:
    """``codec`` decoding ``payload`` of a record of ``length`` bytes; ``length`` None (a version 4 frame):
    the payload codes where the record ends, and decoding stops there or fails past ``max_length`` bytes."""
    if length is not None:
        return codec.decompress(payload, length)
    if not (isinstance(codec, EndCoding) and codec.codes_ends):
        raise CodecError("the frame has no length, and the model it names cannot code where a record ends (formats 9 on can)")
    return codec.decompress_ends(payload, max_length)


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
