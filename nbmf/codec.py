"""The nbmf codec: payload -> frame -> payload, best-of per record, never losing a record.

encode: value --payload.to_bytes--> bytes --[stored, zlib, zstd+dict, neural] smallest--> frame
        (the winner is decoded again and compared before it is returned; on any failure the
         next smallest candidate is used, down to ``stored``, which cannot fail)
decode: frame --header--> codec (model version named in the frame, from the registry)
        --> bytes --checksum--> value
        memory-service blobs (JSON) decode too: old stub blobs as the old decoder returned them
        (nbmf.stub_blob), nbmf's own blobs by the frame they carry (nbmf.blob)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nbmf import frame as fr
from nbmf.artifact import DomainModel
from nbmf.blob import blob_frame, is_nbmf_blob
from nbmf.codecs.base import Codec, StoredCodec, codes_ends, compress_with, decompress_with
from nbmf.codecs.stub import StubCodec
from nbmf.errors import ChecksumError, CodecError, FrameError, ModelNotFoundError, NBMFError, NoGainError, OversizeError
from nbmf.frame import CodecId, ModelRef
from nbmf.models import ModelService
from nbmf.payload import Fidelity, Payload, PayloadType, from_bytes, infer_type, to_bytes
from nbmf.registry import Registry
from nbmf.stub_blob import decode_stub_blob, parse_blob, signature

log = logging.getLogger(__name__)

DEFAULT_MAX_RECORD_BYTES = 1 << 20  # the memory service's records are 200 B - 4 KB; refuse 1 MiB+


@dataclass(frozen=True)
class Decoded:
    value: Payload
    payload_type: PayloadType
    fidelity: Fidelity
    codec: str  # codec name, or "legacy-stub" for an old stub blob
    model: ModelRef | None = None
    truncated: bool = False  # only old semantic stub blobs cut at 2,048 characters (the rest was never stored)
    verified: bool = True  # checked against a checksum (frames: always; a cut old preview cannot be)


@dataclass(frozen=True)
class Encoded:
    frame: bytes
    codec: CodecId
    original_size: int
    model: ModelRef | None
    fallback: str | None = None  # why no domain model coded it (no model, registry unreachable), if so


_STORED, _STUB = StoredCodec(), StubCodec()


class NBMF:
    """Encode and decode records of one or more domains: a best-of coder over the model service.

    ``registry`` gives models by domain (the ``production`` channel, or the canary by its percent)
    and by frame reference on decode, through ``models`` (``nbmf.models.ModelService``: loads, caches
    and follows channels; pass one to share it); ``model`` pins one loaded version instead. With
    neither, the stub codec answers and every frame still decodes. ``frame_version``: the newest frame
    version to write (default ``$NBMF_FRAME_VERSION`` or 5: version 5 where the codec codes where a record
    ends and its registry numbered the model, 4 where it codes the end of a model without a serial,
    version 3 for the others; every version is always read).
    """

    def __init__(
        self,
        registry: Registry | str | None = None,
        model: DomainModel | None = None,
        verify: bool = True,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        cache_size: int = 8,
        channel_ttl_s: float = 30.0,
        models: ModelService | None = None,
        frame_version: int | None = None,
    ) -> None:
        self.models = models if models is not None else ModelService(registry, cache_size, channel_ttl_s)
        self.registry = self.models.registry
        self.model = model
        self.verify = verify
        self.max_record_bytes = max_record_bytes
        # frames written: version 5 (default; 4 for a model without a serial, 3 for codecs that need a length), or older
        # while readers that do not know it remain
        self.frame_version = fr.write_version(frame_version)
        if model is not None:
            self.models.add(model)

    # ---- models -------------------------------------------------------------------------------
    def load(self, domain: str, version: int) -> DomainModel:
        """A model version, from the model service's memory or the registry (sha256-checked)."""
        return self.models.load(domain, version)

    def model_for(self, domain: str | None) -> DomainModel | None:
        """The model that encodes ``domain`` now; None means the stub codec answers."""
        return self._choose(domain)[0]

    def _choose(self, domain: str | None) -> tuple[DomainModel | None, str | None]:
        """(model, why not): an unreachable registry or a model that fails to load never fails an encode."""
        if self.model is not None and (domain is None or domain == self.model.domain):
            return self.model, None
        choice = self.models.serving(domain)
        return choice.model, choice.fallback

    # ---- encode -------------------------------------------------------------------------------
    def frame_version_for(self, model: DomainModel | None) -> int:
        """The frame version this codec writes with ``model``: a version whose (domain tag, version) another
        domain of its registry shares writes v1 frames (they carry the hash prefix)."""
        return min(self.frame_version, model.frame_version) if model else self.frame_version

    def encode_bytes(self, data: bytes, fidelity: Fidelity, ptype: PayloadType, model: DomainModel | None) -> Encoded:
        """Best-of over every codec available: smallest verified payload wins."""
        if len(data) > self.max_record_bytes:
            raise OversizeError(f"record of {len(data)} bytes is over the {self.max_record_bytes}-byte limit")
        codecs: list[Codec] = [_STUB] + (list(model.codecs.values()) if model else [])
        newest = self.frame_version_for(model)
        candidates: list[tuple[int, int, Codec, int, bytes]] = []
        for order, codec in enumerate(codecs):
            # 4: the payload codes its end, no length; 5: and a registry serial names the model
            version = fr.version_for(newest, codes_ends(codec), codec.model)
            try:
                payload = compress_with(codec, data, version >= fr.ENDS_VERSION)
            except NoGainError:
                continue
            except Exception as exc:  # a failing codec must never lose the record
                log.warning("codec %s failed to encode a %d-byte record: %s", codec.codec_id.name, len(data), exc)
                continue
            size = fr.header_size(len(data), codec.model, version, codec.codec_id) + len(payload)
            candidates.append((size, order, codec, version, payload))
        candidates.sort(key=lambda c: (c[0], c[1]))
        stored_version = fr.version_for(newest, False)
        stored_size = fr.header_size(len(data), None, stored_version) + len(data)
        for size, _, codec, version, payload in candidates:
            if size >= stored_size:
                break  # nothing beats storing it as is
            if self.verify:
                try:
                    length = None if version >= fr.ENDS_VERSION else len(data)
                    ok = decompress_with(codec, payload, length, len(data)) == data
                except Exception as exc:
                    log.warning("codec %s failed to decode its own output: %s", codec.codec_id.name, exc)
                    ok = False
                if not ok:
                    log.error("codec %s round trip mismatch; falling back", codec.codec_id.name)
                    continue
            crc = fr.checksum(data, fr.checksum_key(version, codec.model))
            header = fr.Header(codec.codec_id, fidelity, ptype, len(data), crc, codec.model, version)
            return Encoded(fr.pack(header, payload), codec.codec_id, len(data), codec.model)
        header = fr.Header(CodecId.STORED, fidelity, ptype, len(data), fr.checksum(data), version=stored_version)
        return Encoded(fr.pack(header, data), CodecId.STORED, len(data), None)

    def encode_record(
        self, value: Any, fidelity: str | Fidelity = "lossless", payload_type: str | PayloadType | None = None, domain: str | None = None
    ) -> Encoded:
        fid = Fidelity.parse(fidelity)
        ptype = infer_type(value) if payload_type is None else PayloadType.parse(payload_type)
        return self.encode_canonical(to_bytes(value, ptype, fid), fid, ptype, domain)

    def encode_canonical(self, data: bytes, fidelity: Fidelity, ptype: PayloadType, domain: str | None) -> Encoded:
        """Bytes already in their canonical form -> frame, with the domain's serving model (or the stub, saying why)."""
        if len(data) > self.max_record_bytes:  # before any registry or model work
            raise OversizeError(f"record of {len(data)} bytes is over the {self.max_record_bytes}-byte limit")
        model, why = self._choose(domain)
        enc = self.encode_bytes(data, fidelity, ptype, model)
        return enc if why is None else dataclasses.replace(enc, fallback=why)

    def encode(
        self, value: Any, fidelity: str | Fidelity = "lossless", payload_type: str | PayloadType | None = None, domain: str | None = None
    ) -> bytes:
        return self.encode_record(value, fidelity, payload_type, domain).frame

    def encode_many(
        self,
        values: Iterable[Any],
        fidelity: str | Fidelity = "lossless",
        payload_type: str | PayloadType | None = None,
        domain: str | None = None,
    ) -> list[bytes]:
        return [self.encode(v, fidelity, payload_type, domain) for v in values]

    # ---- decode -------------------------------------------------------------------------------
    def decode_bytes(self, frame: bytes) -> tuple[fr.Header, bytes]:
        """(header, decoded bytes). A model codec's header carries the complete reference of the version that
        decoded it (domain tag, version, serial): a version 5 frame itself holds only the serial."""
        header, payload = fr.unpack(frame)
        if header.length is not None and header.length > self.max_record_bytes:  # before any allocation or model work
            raise OversizeError(f"frame claims {header.length} bytes, over this codec's {self.max_record_bytes}-byte record limit")
        codecs: list[Codec]
        if header.codec is CodecId.STORED:
            codecs = [_STORED]
        elif header.codec is CodecId.STUB_ZLIB:
            codecs = [_STUB]
        else:
            assert header.model is not None
            models = self.models.models_for_ref(header.model)
            codecs = [c for m in models if (c := m.codecs.get(header.codec)) is not None]
            if not codecs:
                names = ", ".join(f"{m.domain}@{m.version}" for m in models)
                raise ModelNotFoundError(f"model {names} has no {header.codec.name} codec")
        first: NBMFError | None = None
        for codec in codecs:  # one, unless two domains share a reference: the one whose checksum verifies wins
            try:  # a version 4 frame has no length: the payload codes where the record ends
                data = decompress_with(codec, payload, header.length, self.max_record_bytes)
                return dataclasses.replace(header, model=codec.model or header.model), fr.verify(header, data, codec.model)
            except NBMFError as exc:
                first = first or exc
            except Exception as exc:  # any codec failure on malformed input becomes a typed error
                first = first or CodecError(f"{header.codec.name} payload failed to decode: {exc}")
        assert first is not None
        raise first

    def decode_record(self, frame: bytes | str | dict[str, Any]) -> Decoded:
        """A frame, or a memory-service blob (JSON text, bytes or a dict; any generation) -> value with its metadata."""
        if isinstance(frame, (bytes, bytearray, memoryview)):
            frame = bytes(frame)
            if frame[:1] == b"{" or frame[:1].isspace():  # a v1 frame starts with a byte >= 0x80; a blob is JSON
                return self.decode_blob(frame)
            return self._decode_frame(frame)
        if isinstance(frame, (str, dict)):
            return self.decode_blob(frame)
        raise FrameError(f"a frame is bytes (or a memory-service blob as JSON), got {type(frame).__name__}")

    def _decode_frame(self, frame: bytes) -> Decoded:
        header, data = self.decode_bytes(frame)
        value = from_bytes(data, header.payload_type)
        return Decoded(value, header.payload_type, header.fidelity, header.codec.name.lower(), header.model)

    def decode_blob(self, blob: bytes | str | dict[str, Any]) -> Decoded:
        """A memory-service blob: an old stub blob decodes as its old decoder did, an nbmf blob by its frame."""
        parsed = parse_blob(blob)
        if is_nbmf_blob(parsed):
            d = self._decode_frame(blob_frame(parsed, self.max_record_bytes + 64))
            if signature(d.value) != parsed["sig"].lower():
                raise ChecksumError("nbmf blob: 'sig' does not match its decoded value (tampered or corrupt); refusing it")
            # a migrated old preview that the old stub had cut stays marked: its tail was never stored
            return dataclasses.replace(d, truncated=True, verified=False) if parsed["meta"].get("truncated") is True else d
        old = decode_stub_blob(parsed, self.max_record_bytes)
        ptype = PayloadType.STR if isinstance(old.value, str) else PayloadType.JSON
        return Decoded(old.value, ptype, old.fidelity, "legacy-stub", None, old.truncated, old.verified)

    def decode(self, frame: bytes | str | dict[str, Any]) -> Payload:
        return self.decode_record(frame).value

    def decode_many(self, frames: Sequence[bytes]) -> list[Payload]:
        return [self.decode(f) for f in frames]
