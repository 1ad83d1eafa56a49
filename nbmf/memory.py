"""Drop-in for the memory service's codec module: callers swap their import, nothing else changes.

    from nbmf.memory import encode, decode                      # was: the service's stub codec module
    blob = encode({"note": "…"}, fidelity="lossless", domain="legal")   # {"meta", "code", "sig"}
    decode(blob)                                                 # any generation: old stub, placeholder, nbmf/1

    value --lossless: the value itself | semantic: the old stub's canonical text, uncut-->
          NBMF frame (the domain's production model, canary by weight; the stub codec where none is
          ready or the registry is unreachable) --hex--> {"meta": {"encoder_version": "nbmf/1", …}, "code", "sig"}

Models come from the registry at ``model_path`` / ``$NBMF_REGISTRY`` (local dir or s3://); with none,
the stub codec answers and every blob still decodes. The same interface as the old placeholder:
``ProductionNBMFEncoder``, ``get_production_encoder``, ``encode_production``, ``decode_production``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from nbmf.blob import make_blob
from nbmf.codec import NBMF, Decoded
from nbmf.errors import PayloadError
from nbmf.payload import Fidelity, PayloadType
from nbmf.stub_blob import old_canonical, signature

REGISTRY_ENV = "NBMF_REGISTRY"  # registry root URI the module functions use
DOMAIN_ENV = "NBMF_DOMAIN"  # domain of module-level encodes that name none (default: general)
DEFAULT_DOMAIN = "general"

_codecs: dict[str | None, NBMF] = {}
_encoders: dict[tuple[str, str | None], ProductionNBMFEncoder] = {}
_lock = threading.Lock()


def codec_for(registry: str | None = None) -> NBMF:
    """The process's one ``NBMF`` per registry URI (its model cache is shared by every encoder on it)."""
    uri = registry or os.environ.get(REGISTRY_ENV) or None
    with _lock:
        if uri not in _codecs:
            _codecs[uri] = NBMF(uri)
        return _codecs[uri]


def encode_blob(
    codec: NBMF,
    payload: Any,
    fidelity: str = "semantic",
    domain: str | None = None,
    verbatim: bool = False,
    extra_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``payload`` as an nbmf/1 blob. Lossless: the value comes back equal and of the same type.
    Semantic: the old stub's canonical text (whitespace folded, or sorted-key JSON), never cut;
    ``verbatim``: ``payload`` (a str) already is that text (an old blob's preview, re-encoded as it decodes)."""
    fid = Fidelity.parse(fidelity)
    if verbatim and not (fid is Fidelity.SEMANTIC and isinstance(payload, str)):
        raise PayloadError("verbatim is for semantic text that is already in its canonical form")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        raise PayloadError("the memory service codes JSON values (str, dict, list, numbers, bool, None); got bytes")
    if fid is Fidelity.LOSSLESS:
        ptype = PayloadType.STR if isinstance(payload, str) else PayloadType.JSON
        enc = codec.encode_record(payload, fid, ptype, domain)
        sig = signature(payload)
    else:
        try:
            canonical = payload if verbatim else old_canonical(payload)
        except (TypeError, ValueError, RecursionError) as exc:
            raise PayloadError(f"payload is not a JSON value: {exc}") from None
        enc = codec.encode_canonical(canonical.encode("utf-8", "surrogatepass"), fid, PayloadType.STR, domain)
        sig = signature(canonical)
    meta: dict[str, Any] = {
        "encoder_domain": domain,
        "model_version": enc.model.version if enc.model is not None else None,
        "codec": enc.codec.name.lower(),
        "fidelity": fid.name.lower(),
        "type": type(payload).__name__,
    }
    if enc.fallback:
        meta["fallback"] = enc.fallback
    meta.update(extra_meta or {})
    return make_blob(enc.frame, sig, meta)


class ProductionNBMFEncoder:
    """The memory service's production encoder, backed by nbmf: ``.encode`` / ``.decode`` as before.

    ``model_path`` is the registry root URI (local dir or s3://…); default ``$NBMF_REGISTRY``.
    """

    def __init__(self, domain: str = DEFAULT_DOMAIN, model_path: str | None = None) -> None:
        self.domain = domain
        self.model_path = model_path
        self.codec = codec_for(model_path)

    def encode(self, payload: Any, fidelity: str = "semantic") -> dict[str, Any]:
        return encode_blob(self.codec, payload, fidelity, self.domain)

    def decode(self, blob: dict[str, Any] | str | bytes) -> Any:
        return self.codec.decode(blob)

    def decode_record(self, blob: dict[str, Any] | str | bytes) -> Decoded:
        """The value with what nbmf knows of it: fidelity, codec, model, ``truncated``, ``verified``."""
        return self.codec.decode_record(blob)


def get_production_encoder(domain: str = DEFAULT_DOMAIN, model_path: str | None = None) -> ProductionNBMFEncoder:
    """One encoder per (domain, registry) in this process."""
    key = (domain, model_path or os.environ.get(REGISTRY_ENV) or None)
    with _lock:
        enc = _encoders.get(key)
    if enc is None:
        enc = ProductionNBMFEncoder(domain, key[1])
        with _lock:
            enc = _encoders.setdefault(key, enc)
    return enc


def encode_production(
    payload: Any, fidelity: str = "semantic", domain: str = DEFAULT_DOMAIN, model_path: str | None = None
) -> dict[str, Any]:
    return get_production_encoder(domain, model_path).encode(payload, fidelity)


def decode_production(blob: dict[str, Any] | str | bytes) -> Any:
    """Decode any generation; routed to the encoder of ``meta.encoder_domain`` as the old helper did."""
    from nbmf.stub_blob import parse_blob

    parsed = parse_blob(blob)
    domain = parsed["meta"].get("encoder_domain")
    return get_production_encoder(domain if isinstance(domain, str) and domain else DEFAULT_DOMAIN).decode(parsed)


def encode(payload: Any, fidelity: str = "semantic", domain: str | None = None) -> dict[str, Any]:
    """The service's ``encode``: a blob for ``payload`` (domain: ``domain``, ``$NBMF_DOMAIN`` or general)."""
    return encode_blob(codec_for(), payload, fidelity, domain or os.environ.get(DOMAIN_ENV) or DEFAULT_DOMAIN)


def decode(blob: dict[str, Any] | str | bytes) -> Any:
    """The service's ``decode``: the value of a blob of any generation (old stub, placeholder, nbmf)."""
    return codec_for().decode(blob)
