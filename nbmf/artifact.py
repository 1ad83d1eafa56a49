"""A domain model version, loaded: the codecs its registry files make (zstd dictionary, neural)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nbmf.codecs.base import Codec
from nbmf.codecs.zstd_dict import ZstdDictCodec
from nbmf.errors import IntegrityError
from nbmf.frame import CodecId, ModelRef
from nbmf.registry import Manifest, Registry

ZSTD_DICT_FILE = "zstd.dict"
NEURAL_FILES = ("neural.safetensors", "reference.zst")


@dataclass
class DomainModel:
    domain: str
    version: int
    ref: ModelRef
    codecs: dict[CodecId, Codec] = field(default_factory=dict)
    manifest: Manifest | None = None

    @classmethod
    def from_files(cls, manifest: Manifest, files: dict[str, bytes]) -> DomainModel:
        ref = manifest.ref
        codecs: dict[CodecId, Codec] = {}
        if ZSTD_DICT_FILE in files:
            zc = ZstdDictCodec(files[ZSTD_DICT_FILE], ref)
            want = manifest.config.get("zstd_dict_id")
            if want is not None and int(want) != zc.dict_id:
                raise IntegrityError(f"{manifest.domain}@{manifest.version}: zstd dictionary id {zc.dict_id} != manifest {want}")
            codecs[CodecId.ZSTD_DICT] = zc
        if all(n in files for n in NEURAL_FILES):
            from nbmf.neural.codec import NeuralCodec  # heavy (numba): only when the artifact has one

            codecs[CodecId.NEURAL] = NeuralCodec.from_files(files, ref)
        return cls(manifest.domain, manifest.version, ref, codecs, manifest)

    @classmethod
    def load(cls, registry: Registry, domain: str, version: int) -> DomainModel:
        manifest, files = registry.load_files(domain, version)
        return cls.from_files(manifest, files)
