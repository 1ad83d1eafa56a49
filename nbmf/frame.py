"""NBMF frame v1: a few self-describing bytes in front of every coded record (see docs/FORMAT.md).

byte 0   1VVV CCCC   marker bit, format version (1..7), codec id (0..15)
byte 1   FTTM 0000   fidelity, payload type, model-reference present, reserved (zero)
varint   original length in bytes (LEB128)
4 bytes  xxh32 of the decoded bytes, little endian
[M]      domain tag (1 byte), model version (varint), artifact hash prefix (2 bytes)
rest     codec payload
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import xxhash

from nbmf.errors import ChecksumError, FrameError
from nbmf.payload import Fidelity, PayloadType

FORMAT_VERSION = 1
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a frame never claims more than this (guards decoders)
HASH_PREFIX_BYTES = 2


class CodecId(enum.IntEnum):
    STORED = 0  # raw bytes: the floor for records that no codec shrinks
    STUB_ZLIB = 1  # raw deflate, level 9 (the old stub's codec)
    ZSTD_DICT = 2  # zstd with the domain's trained dictionary
    NEURAL = 3  # integer-exact context-mixing model of the domain + binary arithmetic coder


_NEEDS_MODEL = {CodecId.ZSTD_DICT, CodecId.NEURAL}


def domain_tag(domain: str) -> int:
    """One byte naming a domain in a frame; the artifact hash prefix settles tag collisions."""
    return xxhash.xxh32_intdigest(domain.encode("utf-8")) & 0xFF


def checksum(data: bytes) -> int:
    return xxhash.xxh32_intdigest(data)


@dataclass(frozen=True)
class ModelRef:
    """Which model version coded a frame: enough for the registry to find the exact artifact."""

    domain_tag: int
    version: int
    hash_prefix: bytes

    @classmethod
    def of(cls, domain: str, version: int, artifact_hash: str) -> ModelRef:
        return cls(domain_tag(domain), version, bytes.fromhex(artifact_hash)[:HASH_PREFIX_BYTES])

    def matches(self, domain: str, version: int, artifact_hash: str) -> bool:
        return self == ModelRef.of(domain, version, artifact_hash)


@dataclass(frozen=True)
class Header:
    codec: CodecId
    fidelity: Fidelity
    payload_type: PayloadType
    length: int
    checksum: int
    model: ModelRef | None = None
    version: int = FORMAT_VERSION


def _put_varint(out: bytearray, value: int) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _get_varint(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    value = shift = 0
    for i in range(5):
        if pos + i >= len(buf):
            raise FrameError(f"frame truncated inside {what}")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if i and byte == 0:
                raise FrameError(f"non-canonical varint in {what}")
            return value, pos + i + 1
    raise FrameError(f"varint too long in {what}")


def pack(header: Header, payload: bytes) -> bytes:
    """Header + payload -> frame bytes."""
    if (header.codec in _NEEDS_MODEL) != (header.model is not None):
        raise FrameError(f"codec {header.codec.name} {'needs' if header.codec in _NEEDS_MODEL else 'takes no'} model reference")
    out = bytearray()
    out.append(0x80 | (header.version << 4) | int(header.codec))
    out.append((int(header.fidelity) << 7) | (int(header.payload_type) << 5) | ((header.model is not None) << 4))
    _put_varint(out, header.length)
    out += struct.pack("<I", header.checksum)
    if header.model is not None:
        out.append(header.model.domain_tag)
        _put_varint(out, header.model.version)
        out += header.model.hash_prefix
    return bytes(out) + payload


def unpack(frame: bytes) -> tuple[Header, bytes]:
    """Frame bytes -> (header, codec payload). Raises ``FrameError`` on anything malformed."""
    if len(frame) < 2:
        raise FrameError(f"frame too short ({len(frame)} bytes)")
    b0, b1 = frame[0], frame[1]
    if not b0 & 0x80:
        raise FrameError("not an NBMF frame (marker bit clear; an old stub blob is JSON starting with '{')")
    version = (b0 >> 4) & 0x07
    if version != FORMAT_VERSION:
        raise FrameError(f"unsupported frame format version {version} (this nbmf reads version {FORMAT_VERSION})")
    try:
        codec = CodecId(b0 & 0x0F)
    except ValueError:
        raise FrameError(f"unknown codec id {b0 & 0x0F}") from None
    if b1 & 0x0F:
        raise FrameError("reserved header bits set")
    fidelity = Fidelity(b1 >> 7)
    try:
        ptype = PayloadType((b1 >> 5) & 0x03)
    except ValueError:
        raise FrameError(f"unknown payload type {(b1 >> 5) & 0x03}") from None
    has_model = bool(b1 & 0x10)
    if has_model != (codec in _NEEDS_MODEL):
        raise FrameError(f"codec {codec.name} with{'' if has_model else 'out'} a model reference")
    length, pos = _get_varint(frame, 2, "length")
    if length > MAX_RECORD_BYTES:
        raise FrameError(f"frame claims {length} bytes, over the {MAX_RECORD_BYTES}-byte limit")
    if pos + 4 > len(frame):
        raise FrameError("frame truncated inside checksum")
    (crc,) = struct.unpack_from("<I", frame, pos)
    pos += 4
    model = None
    if has_model:
        if pos >= len(frame):
            raise FrameError("frame truncated inside model reference")
        tag = frame[pos]
        mversion, pos = _get_varint(frame, pos + 1, "model version")
        if pos + HASH_PREFIX_BYTES > len(frame):
            raise FrameError("frame truncated inside model hash")
        model = ModelRef(tag, mversion, bytes(frame[pos : pos + HASH_PREFIX_BYTES]))
        pos += HASH_PREFIX_BYTES
    return Header(codec, fidelity, ptype, length, crc, model, version), bytes(frame[pos:])


def verify(header: Header, data: bytes) -> bytes:
    """Check decoded bytes against the header's length and checksum; return them."""
    if len(data) != header.length:
        raise ChecksumError(f"decoded {len(data)} bytes, frame says {header.length}")
    if checksum(data) != header.checksum:
        raise ChecksumError("content checksum mismatch: the frame is corrupt")
    return data
