"""A domain model version, loaded: the codecs its registry files make (zstd dictionary, neural)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nbmf.codecs.base import Codec
from nbmf.codecs.zstd_dict import ZstdDictCodec
from nbmf.errors import IntegrityError
from nbmf.frame import FORMAT_VERSION, CodecId, ModelRef
from nbmf.registry import Manifest, Registry

if TYPE_CHECKING:
    from nbmf.neural.primed_cache import Shelf

ZSTD_DICT_FILE = "zstd.dict"
NEURAL_FILES = ("neural.safetensors", "reference.zst")


@dataclass
class DomainModel:
    domain: str
    version: int
    ref: ModelRef
    codecs: dict[CodecId, Codec] = field(default_factory=dict)
    manifest: Manifest | None = None
    # the newest frame version its frames may be: 1 where another domain of its registry shares its
    # (domain tag, version), published before publish kept those unique (a v2 frame would name both)
    frame_version: int = FORMAT_VERSION

    @classmethod
    def from_files(cls, manifest: Manifest, files: dict[str, bytes], shelf: Shelf | None = None) -> DomainModel:
        """The codecs of a version's files; ``shelf``: where nodes share primed states (the registry's)."""
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

            codecs[CodecId.NEURAL] = NeuralCodec.from_files(files, ref, shelf=shelf)
        return cls(manifest.domain, manifest.version, ref, codecs, manifest)

    @property
    def state_source(self) -> str:
        """Where its primed state came from: "primed" here, this node's disk ("node"), the registry's
        shelf ("shelf"); "none" without a neural codec."""
        state = getattr(self.codecs.get(CodecId.NEURAL), "state", None)
        return str(getattr(state, "source", "none"))

    @property
    def broken(self) -> str | None:
        """Why its primed state can no longer be trusted (``CMState.broken``); None while it is sound."""
        why = getattr(self.codecs.get(CodecId.NEURAL), "broken", None)
        return why if isinstance(why, str) else None

    def ready_kernel(self) -> float:
        """Have the compiled kernel its neural codec codes with in this process (numba compiles it, about 40 s a
        type, or loads it from its cache), so that its first record does not wait for the compiler; the seconds it
        took (0 without a neural codec or where it was ready; ``nbmf.neural.precompile``)."""
        if CodecId.NEURAL not in self.codecs:
            return 0.0
        from nbmf.neural.codec import NeuralCodec
        from nbmf.neural.precompile import compile_kernel

        codec = self.codecs[CodecId.NEURAL]
        assert isinstance(codec, NeuralCodec)
        return sum(compile_kernel((str(codec.state.nn.P.dtype),), wide=False).values())

    @classmethod
    def load(cls, registry: Registry, domain: str, version: int) -> DomainModel:
        manifest, files = registry.load_files(domain, version)
        model = cls.from_files(manifest, files, registry.primed(domain, version))
        if registry.shares_ref(domain, version):
            model.frame_version = 1
        return model
