"""zstd at level 19 with a dictionary trained per domain: the bar every neural model must clear."""

from __future__ import annotations

from collections.abc import Sequence

import zstandard as zstd

from nbmf.errors import CodecError
from nbmf.frame import CodecId, ModelRef

DEFAULT_DICT_BYTES = 112 * 1024
LEVEL = 19


def train_dictionary(samples: Sequence[bytes], dict_bytes: int = DEFAULT_DICT_BYTES) -> bytes:
    """Train a zstd dictionary; fails with a clear error when the sample is too small."""
    samples = [s for s in samples if s]
    if len(samples) < 8:
        raise CodecError(f"need at least 8 non-empty samples to train a zstd dictionary, got {len(samples)}")
    total = sum(len(s) for s in samples)
    size = min(dict_bytes, max(1024, total // 4))
    try:
        return zstd.train_dictionary(size, list[bytes | bytearray | memoryview](samples), level=LEVEL).as_bytes()
    except zstd.ZstdError as exc:
        raise CodecError(f"zstd dictionary training failed on {len(samples)} samples ({total} bytes): {exc}") from None


class ZstdDictCodec:
    """zstd-19 + dictionary, magicless frames without checksum or dict id: the NBMF header has both."""

    codec_id = CodecId.ZSTD_DICT

    def __init__(self, dictionary: bytes, model: ModelRef | None = None, level: int = LEVEL) -> None:
        self.dictionary = zstd.ZstdCompressionDict(dictionary)
        self.dict_id = self.dictionary.dict_id()
        self.model = model
        params = zstd.ZstdCompressionParameters.from_level(
            level, format=zstd.FORMAT_ZSTD1_MAGICLESS, write_checksum=0, write_dict_id=0, write_content_size=0
        )
        self._cctx = zstd.ZstdCompressor(dict_data=self.dictionary, compression_params=params)
        self._dctx = zstd.ZstdDecompressor(dict_data=self.dictionary, format=zstd.FORMAT_ZSTD1_MAGICLESS)

    def compress(self, data: bytes) -> bytes:
        return self._cctx.compress(data)

    def decompress(self, payload: bytes, length: int) -> bytes:
        chunks: list[bytes] = []
        got = 0
        try:
            # Read at most length + 1 bytes: a crafted payload cannot expand without bound.
            with self._dctx.stream_reader(payload) as reader:
                while got <= length:
                    chunk = reader.read(length + 1 - got)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    got += len(chunk)
            out = b"".join(chunks)
        except zstd.ZstdError as exc:
            raise CodecError(f"zstd payload is corrupt or coded with another dictionary: {exc}") from None
        if len(out) != length:
            raise CodecError(f"zstd payload decoded to {len(out)} bytes, frame says {length}")
        return out
