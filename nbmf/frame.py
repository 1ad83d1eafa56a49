"""NBMF frames: a few self-describing bytes in front of every coded record (see docs/FORMAT.md).

byte 0   1VVV CCCC   marker bit, format version (1 to 5), codec id (0..15); v5: 1101 0FTT (the codec is neural)
v1, v2:  byte 1 FTTM 0000 (fidelity, payload type, model-reference present, reserved zero bits), then
         varint original length in bytes (LEB128)
v3:      varint (length << 3 | F << 2 | TT): the same fields without a byte of their own (M is the codec's)
v4:      no length (only the neural codec, whose payload codes where the record ends: artifact format 9 on)
4 bytes  xxh32 of the decoded bytes, little endian; v2 to v4 with a model: seeded by the model's artifact hash
[M]      domain tag (1 byte), model version (varint), v1 only: artifact hash prefix (2 bytes);
         v4: varint (model version << 3 | F << 2 | TT) instead of the model version
         v5: varint model serial (the registry's number for the version, ``Manifest.serial``) only
rest     codec payload

Version 2 drops v1's 2-byte hash prefix: the seeded checksum both checks the bytes and says which
artifact coded them. Version 3 (written for every frame versions 4 and 5 cannot take) folds the flags byte into the length varint (the
model-reference bit is implied by the codec id): one byte less for a record of 128 B to 2 KiB (a
9-byte header for a model codec; 10 in v2, 12 in v1), never more. Earlier versions are read forever
and can still be written (``NBMF(frame_version=N)``, ``$NBMF_FRAME_VERSION``) while readers that do
not know the newest remain. Version 4 (written for a model without a serial, where it can be) has no length at all: the
neural codec of an artifact of format 9 or later codes where a record ends in its payload (a fraction of a bit
for JSON, about a byte for prose) and fidelity and payload type ride in the model version's varint, so
its header is 7 bytes (model version < 16; 8 up to 2047) where version 3 took 9 (10 from 2 KiB). Every
other frame is written as version 3 (``version_for``). Version 5 (written by default for a version its
registry numbered) names the model by one registry-wide serial instead of (domain tag, version), and
fidelity and payload type ride in byte 0 (the codec is the neural one): 6 bytes for serials below 128.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass, field

import xxhash

from nbmf.errors import ChecksumError, FrameError
from nbmf.payload import Fidelity, PayloadType

FORMAT_VERSION = 5  # what is written by default (where the codec codes its end and the model has a serial; else 4 or 3)
READ_VERSIONS = (1, 2, 3, 4, 5)  # every version ever written stays readable
ENDS_VERSION = 4  # the first version without a length: only for a codec that codes where the record ends
SERIAL_VERSION = 5  # names the model by its registry serial: only for a version its registry numbered
FRAME_VERSION_ENV = "NBMF_FRAME_VERSION"
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a frame never claims more than this (guards decoders)
HASH_PREFIX_BYTES = 2


class CodecId(enum.IntEnum):
    STORED = 0  # raw bytes: the floor for records that no codec shrinks
    STUB_ZLIB = 1  # raw deflate, level 9 (the old stub's codec)
    ZSTD_DICT = 2  # zstd with the domain's trained dictionary
    NEURAL = 3  # integer-exact context-mixing model of the domain + binary arithmetic coder


_NEEDS_MODEL = {CodecId.ZSTD_DICT, CodecId.NEURAL}
_CODES_ENDS = {CodecId.NEURAL}  # codecs whose payload may code where the record ends (frame version 4)


def version_for(version: int, codes_ends: bool, model: ModelRef | None = None) -> int:
    """The frame version to write under ``version`` (the newest allowed) for a codec that can code where a
    record ends (``codes_ends``) or not: only such a codec's frames may leave the length out (version 4
    on), and only a ``model`` with a registry serial can be named by it (version 5)."""
    if not codes_ends:
        return min(version, ENDS_VERSION - 1)
    return version if model is not None and model.serial is not None else min(version, SERIAL_VERSION - 1)


def domain_tag(domain: str) -> int:
    """One byte naming a domain in a frame; the artifact hash prefix settles tag collisions."""
    return xxhash.xxh32_intdigest(domain.encode("utf-8")) & 0xFF


def checksum(data: bytes, key: int = 0) -> int:
    return xxhash.xxh32_intdigest(data, seed=key)


def write_version(requested: int | None = None) -> int:
    """The frame version to write: ``requested``, else ``$NBMF_FRAME_VERSION``, else ``FORMAT_VERSION``."""
    raw = requested if requested is not None else os.environ.get(FRAME_VERSION_ENV, "").strip() or FORMAT_VERSION
    try:
        version = int(raw)
    except ValueError:
        version = -1
    if version not in READ_VERSIONS:
        raise FrameError(f"cannot write frame version {raw!r} (from {FRAME_VERSION_ENV} or frame_version): one of {READ_VERSIONS}")
    return version


@dataclass(frozen=True)
class ModelRef:
    """Which model version coded a frame: enough for the registry to find the exact artifact.

    Made from a manifest (``of``) it is complete: ``hash_prefix`` (what a v1 frame holds) and ``key`` (the
    seed of a v2 or v3 frame's checksum) and, for a version its registry numbered, ``serial``. Read from a
    frame it has what the frame holds: a v1 frame's hash prefix, a v2 to v4 frame's tag and version only
    (and no key: the decoder takes it from each version the reference names), a v5 frame's serial only
    (``by_serial``: tag and version unknown, -1)."""

    domain_tag: int
    version: int
    hash_prefix: bytes = b""
    key: int | None = field(default=None, compare=False)
    serial: int | None = None  # the registry's number for this version (frame version 5); None: not numbered

    @classmethod
    def of(cls, domain: str, version: int, artifact_hash: str, serial: int | None = None) -> ModelRef:
        digest = bytes.fromhex(artifact_hash)
        return cls(domain_tag(domain), version, digest[:HASH_PREFIX_BYTES], int.from_bytes(digest[:4], "little"), serial)

    @classmethod
    def by_serial(cls, serial: int) -> ModelRef:
        """What a version 5 frame says: the model's registry serial, nothing else."""
        return cls(-1, -1, serial=serial)

    @property
    def serial_only(self) -> bool:
        """Read from a version 5 frame: the serial is all it says (``by_serial``)."""
        return self.domain_tag < 0 and self.serial is not None

    def names(self, model: ModelRef) -> bool:
        """Whether a frame's reference (``self``) may name this complete reference of a loaded or published version."""
        if self.serial_only:  # the serial alone, unique in its registry
            return self.serial == model.serial
        same = self.domain_tag == model.domain_tag and self.version == model.version
        return same and (not self.hash_prefix or self.hash_prefix == model.hash_prefix)

    def matches(self, domain: str, version: int, artifact_hash: str) -> bool:
        return self.names(ModelRef.of(domain, version, artifact_hash))

    def describe(self) -> str:
        """For error messages: tag, version and (v1 frames) hash prefix; a v5 frame's serial."""
        if self.serial_only:
            return f"model serial {self.serial}"
        return f"domain tag {self.domain_tag}, version {self.version}" + (f", hash {self.hash_prefix.hex()}" if self.hash_prefix else "")


@dataclass(frozen=True)
class Header:
    codec: CodecId
    fidelity: Fidelity
    payload_type: PayloadType
    length: int | None  # None in a version 4 or 5 frame: the payload codes where the record ends
    checksum: int
    model: ModelRef | None = None
    version: int = ENDS_VERSION - 1  # a header made without one has a length (what every codec can be written in)


def _put_varint(out: bytearray, value: int) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def header_size(length: int, model: ModelRef | None, version: int = FORMAT_VERSION, codec: CodecId | None = None) -> int:
    """Bytes of the header of a frame holding a record of ``length`` bytes, coded with ``model`` (None: a
    codec without one) in frame ``version``: what a measurement counts for a frame it does not build
    (a version 4 frame has no length, a version 5 frame names a serial: ``version`` is capped to one the codec
    and the model can be written in, ``version_for``)."""
    if model is not None and version == 1 and len(model.hash_prefix) != HASH_PREFIX_BYTES:
        model = ModelRef(model.domain_tag, model.version, b"\0" * HASH_PREFIX_BYTES)
    codec = codec if codec is not None else (CodecId.NEURAL if model is not None else CodecId.STORED)
    version = version_for(version, codec in _CODES_ENDS, model)
    return len(pack(Header(codec, Fidelity.LOSSLESS, PayloadType.BYTES, length, 0, model, version), b""))


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
    if header.version not in READ_VERSIONS:
        raise FrameError(f"cannot write frame version {header.version}")
    if header.version >= ENDS_VERSION and header.codec not in _CODES_ENDS:
        raise FrameError(f"a version {header.version} frame has no length: codec {header.codec.name} needs one (write version 3)")
    out = bytearray()
    if header.version >= SERIAL_VERSION:
        assert header.model is not None  # every codec that codes its end has a model
        if header.model.serial is None or header.model.serial < 1:
            raise FrameError("a version 5 frame names its model by registry serial, and this model has none (write version 4)")
        out.append(0x80 | (header.version << 4) | (int(header.fidelity) << 2) | int(header.payload_type))
        out += struct.pack("<I", header.checksum)
        _put_varint(out, header.model.serial)
        return bytes(out) + payload
    out.append(0x80 | (header.version << 4) | int(header.codec))
    if header.version >= ENDS_VERSION:
        assert header.model is not None  # every codec that codes its end has a model
        out += struct.pack("<I", header.checksum)
        out.append(header.model.domain_tag)
        _put_varint(out, (header.model.version << 3) | (int(header.fidelity) << 2) | int(header.payload_type))
        return bytes(out) + payload
    if header.length is None:
        raise FrameError(f"a version {header.version} frame needs the record's length")
    if header.version >= 3:  # the model reference's presence is the codec's
        _put_varint(out, (header.length << 3) | (int(header.fidelity) << 2) | int(header.payload_type))
    else:
        out.append((int(header.fidelity) << 7) | (int(header.payload_type) << 5) | ((header.model is not None) << 4))
        _put_varint(out, header.length)
    out += struct.pack("<I", header.checksum)
    if header.model is not None:
        out.append(header.model.domain_tag)
        _put_varint(out, header.model.version)
        if header.version == 1:
            if len(header.model.hash_prefix) != HASH_PREFIX_BYTES:
                raise FrameError("a version 1 frame needs the model's artifact hash prefix")
            out += header.model.hash_prefix
    return bytes(out) + payload


def unpack(frame: bytes) -> tuple[Header, bytes]:
    """Frame bytes -> (header, codec payload). Raises ``FrameError`` on anything malformed."""
    if len(frame) < 2:
        raise FrameError(f"frame too short ({len(frame)} bytes)")
    b0 = frame[0]
    if not b0 & 0x80:
        raise FrameError("not an NBMF frame (marker bit clear; an old stub blob is JSON starting with '{')")
    version = (b0 >> 4) & 0x07
    if version not in READ_VERSIONS:
        raise FrameError(
            f"unsupported frame format version {version} (this nbmf reads versions {', '.join(map(str, READ_VERSIONS))}): "
            "it was written by a newer nbmf; upgrade to decode it"
        )
    if version >= SERIAL_VERSION:
        return _unpack_serial(frame, version)
    try:
        codec = CodecId(b0 & 0x0F)
    except ValueError:
        raise FrameError(f"unknown codec id {b0 & 0x0F}") from None
    if version >= ENDS_VERSION:
        return _unpack_ends(frame, version, codec)
    if version >= 3:  # fidelity and payload type ride in the low 3 bits of the length varint
        packed, pos = _get_varint(frame, 1, "length")
        flags, length = ((packed & 0x07) << 1) | (codec in _NEEDS_MODEL), packed >> 3
    else:
        if frame[1] & 0x0F:
            raise FrameError("reserved header bits set")
        flags = frame[1] >> 4
        length, pos = _get_varint(frame, 2, "length")
    fidelity = Fidelity(flags >> 3)
    try:
        ptype = PayloadType((flags >> 1) & 0x03)
    except ValueError:
        raise FrameError(f"unknown payload type {(flags >> 1) & 0x03}") from None
    has_model = bool(flags & 0x01)
    if has_model != (codec in _NEEDS_MODEL):
        raise FrameError(f"codec {codec.name} with{'' if has_model else 'out'} a model reference")
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
        if version == 1:
            if pos + HASH_PREFIX_BYTES > len(frame):
                raise FrameError("frame truncated inside model hash")
            model = ModelRef(tag, mversion, bytes(frame[pos : pos + HASH_PREFIX_BYTES]))
            pos += HASH_PREFIX_BYTES
        else:
            model = ModelRef(tag, mversion)
    return Header(codec, fidelity, ptype, length, crc, model, version), bytes(frame[pos:])


def _unpack_ends(frame: bytes, version: int, codec: CodecId) -> tuple[Header, bytes]:
    """A version 4 frame: byte 0, checksum, domain tag, varint (model version << 3 | F << 2 | TT), payload."""
    if codec not in _CODES_ENDS:
        raise FrameError(f"a version {version} frame holds only a codec that codes where the record ends, not {codec.name}")
    if len(frame) < 6:
        raise FrameError("frame truncated inside checksum or model reference")
    (crc,) = struct.unpack_from("<I", frame, 1)
    tag = frame[5]
    packed, pos = _get_varint(frame, 6, "model version")
    try:
        ptype = PayloadType(packed & 0x03)
    except ValueError:
        raise FrameError(f"unknown payload type {packed & 0x03}") from None
    header = Header(codec, Fidelity((packed >> 2) & 1), ptype, None, crc, ModelRef(tag, packed >> 3), version)
    return header, bytes(frame[pos:])


def _unpack_serial(frame: bytes, version: int) -> tuple[Header, bytes]:
    """A version 5 frame: byte 0 (1101 0FTT), checksum, varint model serial, payload (the neural codec's)."""
    b0 = frame[0]
    if b0 & 0x08:
        raise FrameError("reserved header bits set")
    try:
        ptype = PayloadType(b0 & 0x03)
    except ValueError:
        raise FrameError(f"unknown payload type {b0 & 0x03}") from None
    if len(frame) < 6:
        raise FrameError("frame truncated inside checksum or model serial")
    (crc,) = struct.unpack_from("<I", frame, 1)
    serial, pos = _get_varint(frame, 5, "model serial")
    if serial < 1:
        raise FrameError("model serial 0 (serials start at 1)")
    header = Header(CodecId.NEURAL, Fidelity((b0 >> 2) & 1), ptype, None, crc, ModelRef.by_serial(serial), version)
    return header, bytes(frame[pos:])


def checksum_key(version: int, model: ModelRef | None) -> int:
    """The seed of a frame's checksum: a frame of v2 or later with a model reference is keyed by that model's artifact."""
    if version == 1 or model is None:
        return 0
    if model.key is None:
        raise FrameError(f"a version {version} frame's checksum needs the complete model reference (from its manifest)")
    return model.key


def verify(header: Header, data: bytes, model: ModelRef | None = None) -> bytes:
    """Check decoded bytes against the header's length and checksum; return them.

    ``model``: the complete reference of the version that decoded them (the checksum of a frame of v2 or later is
    keyed by it). A version 4 or 5 frame has no length: its checksum alone checks the bytes."""
    if header.length is not None and len(data) != header.length:
        raise ChecksumError(f"decoded {len(data)} bytes, frame says {header.length}")
    if checksum(data, checksum_key(header.version, model if header.model is not None else None)) != header.checksum:
        keyed = header.version >= 2 and header.model is not None
        raise ChecksumError(
            "content checksum mismatch: the frame is corrupt"
            + (" or was coded by another artifact than this registry's version it names" if keyed else "")
        )
    return data
