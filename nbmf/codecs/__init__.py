"""Codecs behind one interface; the frame header's codec id picks one on decode."""

from nbmf.codecs.base import Codec, StoredCodec
from nbmf.codecs.stub import StubCodec
from nbmf.codecs.zstd_dict import ZstdDictCodec, train_dictionary

__all__ = ["Codec", "StoredCodec", "StubCodec", "ZstdDictCodec", "train_dictionary"]
