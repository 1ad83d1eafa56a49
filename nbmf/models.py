"""The one model service: which version codes a domain now, and the loaded versions themselves.

    registry ──channels (read at most once per TTL; the last ones kept through an outage)──▶ serving version
             ──load (single-flight per version, sha256-checked, primed state read from the node's disk or primed)──▶ LRU (bounded)
    encode: serving(domain) -> model, or why none (never raises: the stub answers)
    decode: models_for_ref(frame's reference) -> every version that reference may name
    readiness: wanted() (production and canary of each domain) all loaded

The library's codec (``nbmf.codec.NBMF``), the Serve replicas (``serve/``) and the jobs share this;
nothing else caches models or channels. Every load, hit and miss is told to ``listener`` (metrics).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nbmf.artifact import DomainModel
from nbmf.errors import ModelNotFoundError, NBMFError
from nbmf.frame import ModelRef
from nbmf.registry import Channels, Registry

log = logging.getLogger(__name__)

ModelKey = tuple[str, int]  # (domain, version)
Listener = Callable[..., None]  # listener(event, **labels): "load" (seconds=, source=), "hit", "miss", "load_failed" (error=)


def model_id(domain: str, version: int) -> str:
    """``domain@version``: how a version is named in logs, metrics, Serve's multiplexing and the HTTP API."""
    return f"{domain}@{version}"


def parse_model_id(mid: str) -> ModelKey:
    domain, sep, version = mid.partition("@")
    if not sep or not version.isdigit():
        raise ModelNotFoundError(f"{mid!r} is not a model id (domain@version)")
    return domain, int(version)


class Fallback(StrEnum):
    """Why the stub (not a domain model) coded a record: few values, fit for a metric label."""

    NO_DOMAIN = "no_domain"
    NO_REGISTRY = "no_registry"
    NO_MODEL = "no_model"  # the domain has no production version
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    LOAD_FAILED = "load_failed"
    MODEL_TIMEOUT = "model_timeout"  # serving: the model did not answer in time (still loading)
    MODEL_FAILED = "model_failed"  # serving: the replica holding it failed


@dataclass(frozen=True)
class Choice:
    """What encodes a record of a domain: a version (and its model once loaded), or why the stub answers."""

    version: int | None = None
    model: DomainModel | None = None
    fallback: str | None = None  # for people (blob meta, HTTP answers, logs)
    kind: Fallback | None = None  # for metrics


class ModelService:
    def __init__(
        self,
        registry: Registry | str | None,
        cache_size: int = 8,
        channel_ttl_s: float = 30.0,
        listener: Listener | None = None,
    ) -> None:
        self.registry = Registry(registry) if isinstance(registry, str) else registry
        self.cache_size = max(1, cache_size)
        self.channel_ttl_s = channel_ttl_s
        self.listener = listener
        self._models: OrderedDict[ModelKey, DomainModel] = OrderedDict()
        self._lock = threading.Lock()  # guards the dicts; never held while loading
        self._loading: dict[ModelKey, threading.Lock] = {}  # one load per version at a time (single flight)
        self._channels: dict[str, tuple[float, Channels]] = {}
        self._refs: dict[ModelRef, list[ModelKey]] = {}

    def _tell(self, event: str, **labels: Any) -> None:
        if self.listener is not None:
            try:
                self.listener(event, **labels)
            except Exception:  # metrics must never fail a request
                log.debug("model listener failed on %s", event, exc_info=True)

    # ---- loaded versions ------------------------------------------------------------------------
    def add(self, model: DomainModel) -> DomainModel:
        """Keep an already loaded model (the least recently used beyond ``cache_size`` goes)."""
        with self._lock:
            key = (model.domain, model.version)
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > self.cache_size:
                gone, _ = self._models.popitem(last=False)
                log.info("model %s dropped from memory (cache of %d)", model_id(*gone), self.cache_size)
        return model

    def cached(self, domain: str, version: int) -> DomainModel | None:
        with self._lock:
            hit = self._models.get((domain, version))
            if hit is not None and hit.broken is not None:  # never used again: the next load reads it anew
                log.error("model %s: %s; it will be loaded again", model_id(domain, version), hit.broken)
                del self._models[(domain, version)]
                return None
            if hit is not None:
                self._models.move_to_end((domain, version))
            return hit

    def loaded(self) -> list[ModelKey]:
        with self._lock:
            return list(self._models)

    def load(self, domain: str, version: int) -> DomainModel:
        """A version from memory, else from the registry (sha256-checked); concurrent callers share one load."""
        hit = self.cached(domain, version)
        if hit is not None:
            self._tell("hit", domain=domain, version=version)
            return hit
        if self.registry is None:
            raise ModelNotFoundError(f"model {model_id(domain, version)} is needed but no registry is configured")
        with self._lock:
            gate = self._loading.setdefault((domain, version), threading.Lock())
        with gate:
            hit = self.cached(domain, version)  # loaded while this caller waited on the gate
            if hit is not None:
                self._tell("hit", domain=domain, version=version)
                return hit
            self._tell("miss", domain=domain, version=version)
            t0 = time.perf_counter()
            try:
                model = DomainModel.load(self.registry, domain, version)
                compiling = model.ready_kernel()  # its first record must not wait for numba's compiler
            except Exception as exc:
                self._tell("load_failed", domain=domain, version=version, error=type(exc).__name__)
                raise
            finally:
                with self._lock:
                    self._loading.pop((domain, version), None)
            seconds = time.perf_counter() - t0
            kernel = f"; its compiled kernel ready in {compiling:.1f} s" if compiling >= 1 else ""
            log.info("model %s loaded in %.2f s (state: %s%s)", model_id(domain, version), seconds, model.state_source, kernel)
            self._tell("load", domain=domain, version=version, seconds=seconds, source=model.state_source)
            return self.add(model)

    # ---- channels -------------------------------------------------------------------------------
    def channels(self, domain: str) -> Channels:
        """The domain's channels, read at most once per TTL; through a registry outage the last ones seen stay."""
        if self.registry is None:
            raise ModelNotFoundError("no registry configured")
        now = time.monotonic()
        with self._lock:
            hit = self._channels.get(domain)
        if hit is not None and now - hit[0] <= self.channel_ttl_s:
            return hit[1]
        try:
            ch = self.registry.channels(domain)
        except Exception:
            if hit is None:
                raise
            log.warning("registry unavailable: %s keeps its last channels", domain)  # stale beats no model
            ch = hit[1]
        with self._lock:
            self._channels[domain] = (now, ch)
        return ch

    def channels_fresh(self, domain: str) -> bool:
        """Whether ``channels(domain)`` answers from memory (no registry read): callers on an event loop check this."""
        with self._lock:
            hit = self._channels.get(domain)
        return hit is not None and time.monotonic() - hit[0] <= self.channel_ttl_s

    def serving_version(self, domain: str | None, draw: float | None = None) -> Choice:
        """The version for one record (the canary by its percent, drawn per record, else production), not loaded."""
        if domain is None:
            return Choice(fallback="no domain given", kind=Fallback.NO_DOMAIN)
        if self.registry is None:
            return Choice(fallback="no registry configured", kind=Fallback.NO_REGISTRY)
        try:
            ch = self.channels(domain)
        except NBMFError as exc:
            log.warning("encoding %s with the stub: %s", domain, exc)
            return Choice(fallback=f"{type(exc).__name__}: {exc}"[:300], kind=Fallback.REGISTRY_UNAVAILABLE)
        except Exception as exc:  # storage client errors of any kind: the stub answers, nothing is lost
            log.warning("encoding %s with the stub: %s: %s", domain, type(exc).__name__, exc)
            return Choice(fallback=f"registry unavailable ({type(exc).__name__})", kind=Fallback.REGISTRY_UNAVAILABLE)
        version = ch.serving(draw)
        if version is None:
            return Choice(fallback=f"no production model for domain {domain!r}", kind=Fallback.NO_MODEL)
        return Choice(version=int(version))

    def serving(self, domain: str | None) -> Choice:
        """The model that encodes a record of ``domain`` now; never raises (a failure says why the stub answers)."""
        choice = self.serving_version(domain)
        if choice.version is None:
            return choice
        assert domain is not None
        try:
            return Choice(choice.version, self.load(domain, choice.version))
        except NBMFError as exc:
            log.warning("encoding %s with the stub: %s", domain, exc)
            return Choice(choice.version, fallback=f"{type(exc).__name__}: {exc}"[:300], kind=Fallback.LOAD_FAILED)
        except Exception as exc:
            log.warning("encoding %s with the stub: %s: %s", domain, type(exc).__name__, exc)
            return Choice(choice.version, fallback=f"registry unavailable ({type(exc).__name__})", kind=Fallback.REGISTRY_UNAVAILABLE)

    # ---- frames ---------------------------------------------------------------------------------
    def keys_for_ref(self, ref: ModelRef) -> list[ModelKey]:
        """Every version a frame reference may name (a 1-byte domain tag can be shared: decode tries each)."""
        with self._lock:
            loaded = [k for k, m in self._models.items() if ref.names(m.ref)]
            known = self._refs.get(ref)
        if known is not None:
            return known
        if loaded and (ref.hash_prefix or self.registry is None):
            return loaded  # a v1 reference (tag, version, hash prefix) names one version in any registry written since #14
        if self.registry is None:
            raise ModelNotFoundError(f"frame needs a model ({ref.describe()}) and no registry is configured")
        try:
            keys = [(m.domain, m.version) for m in self.registry.find_all(ref)]
        except ModelNotFoundError:
            if loaded:
                return loaded  # a version given to this service that its registry does not have
            raise
        if keys:  # published versions never change: what a reference names is cached for good
            with self._lock:
                self._refs[ref] = keys
        return keys

    def models_for_ref(self, ref: ModelRef) -> list[DomainModel]:
        keys = self.keys_for_ref(ref)
        if not keys:
            raise ModelNotFoundError(f"no model in the registry matches the frame's reference ({ref.describe()})")
        return [self.load(d, v) for d, v in keys]

    # ---- readiness ------------------------------------------------------------------------------
    def wanted(self, domains: Iterable[str] | None = None) -> list[ModelKey]:
        """Production and canary versions of ``domains`` (default: every domain of the registry)."""
        if self.registry is None:
            return []
        out: list[ModelKey] = []
        for domain in self.registry.domains() if domains is None else domains:
            ch = self.channels(domain)
            for v in (ch.production, ch.canary.version if ch.canary else None):
                if v is not None and (domain, int(v)) not in out:
                    out.append((domain, int(v)))
        return out

    def missing(self, wanted: Iterable[ModelKey]) -> list[ModelKey]:
        with self._lock:
            return [k for k in wanted if k not in self._models]
