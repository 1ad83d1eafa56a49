"""Codecs behind one interface; the frame header's codec id picks one on decode."""

from nbmf.codecs.base import Codec, StoredCodec
from nbmf.codecs.stub import StubCodec, decode_legacy_blob, encode_legacy_blob
from nbmf.codecs.zstd_dict import ZstdDictCodec, train_dictionary

__all__ = [
    "Codec",
    "StoredCodec",
    "StubCodec",
    "ZstdDictCodec",
    "decode_legacy_blob",
    "encode_legacy_blob",
    "train_dictionary",
]
