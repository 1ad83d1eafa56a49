"""What an operator watches: nbmf's metrics, exported by Ray's Prometheus endpoint (``ray_nbmf_*``).

Every metric is a ``ray.serve.metrics`` one (Serve adds deployment, replica and application tags).
docs/OPERATIONS.md lists each with what to do when it moves; cluster/grafana-nbmf.json graphs them.
Labels have few values by design: routes, domains, model ids (``domain@version``), codec names,
fallback kinds (``nbmf.models.Fallback``) and error class names.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("nbmf.serve")

LATENCY_MS_BOUNDARIES = [0.5, 1, 2, 5, 10, 20, 50, 100, 120, 200, 500, 1000, 5000]
LOAD_S_BOUNDARIES = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120]


def _keys(*names: str) -> Any:
    """Tag keys (Ray annotates them as a 1-tuple; any number is meant)."""
    return tuple(names)


class ServeMetrics:
    """One per replica. ``model_event`` is the ``nbmf.models.ModelService`` listener."""

    def __init__(self) -> None:
        from ray.serve.metrics import Counter, Gauge, Histogram

        self.requests = Counter(
            "nbmf_requests", description="HTTP requests by route, domain and status code.", tag_keys=_keys("route", "domain", "status")
        )
        self.latency = Histogram(
            "nbmf_request_latency_ms",
            description="Request latency in the replica (ms), by route and domain.",
            boundaries=LATENCY_MS_BOUNDARIES,
            tag_keys=_keys("route", "domain"),
        )
        self.records = Counter(
            "nbmf_records",
            description="Records coded, by route, domain, model version and codec.",
            tag_keys=_keys("route", "domain", "model", "codec"),
        )
        self.bytes_in = Counter(
            "nbmf_bytes_in", description="Bytes received: records to encode, frames to decode.", tag_keys=_keys("route", "domain", "codec")
        )
        self.bytes_out = Counter(
            "nbmf_bytes_out", description="Bytes answered: frames encoded, records decoded.", tag_keys=_keys("route", "domain", "codec")
        )
        self.fallbacks = Counter(
            "nbmf_fallbacks",
            description="Encodes the stub answered instead of a domain model, by reason.",
            tag_keys=_keys("domain", "reason"),
        )
        self.decode_failures = Counter(
            "nbmf_decode_failures", description="Frames or blobs that could not be decoded, by error class.", tag_keys=_keys("error")
        )
        self.model_load = Histogram(
            "nbmf_model_load_seconds",
            description="Registry to a loaded, primed model (s), by model version and where its primed state came from "
            "(primed: here; node: this node's disk; shelf: the registry, primed by another node).",
            boundaries=LOAD_S_BOUNDARIES,
            tag_keys=_keys("model", "source"),
        )
        self.model_cache = Counter(
            "nbmf_model_cache",
            description="Model lookups in the replica's memory: hit, miss, load_failed.",
            tag_keys=_keys("result", "model"),
        )
        self.models_loaded = Gauge("nbmf_models_loaded", description="Model versions held in this replica's memory.")
        self.ready = Gauge("nbmf_ready", description="1 when this replica holds every production and canary version it should.")

    def _safe(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # a metric must never fail a request
            log.debug("metric update failed", exc_info=True)

    def request(self, route: str, domain: str, status: int, ms: float) -> None:
        self._safe(self.requests.inc, 1, tags={"route": route, "domain": domain, "status": str(status)})
        self._safe(self.latency.observe, ms, tags={"route": route, "domain": domain})

    def record(self, route: str, domain: str, model: str | None, codec: str, n_in: int, n_out: int) -> None:
        tags = {"route": route, "domain": domain, "codec": codec}
        self._safe(self.records.inc, 1, tags=tags | {"model": model or "none"})
        self._safe(self.bytes_in.inc, n_in, tags=tags)
        self._safe(self.bytes_out.inc, n_out, tags=tags)

    def fallback(self, domain: str, reason: str) -> None:
        self._safe(self.fallbacks.inc, 1, tags={"domain": domain, "reason": reason})

    def decode_failure(self, error: str) -> None:
        self._safe(self.decode_failures.inc, 1, tags={"error": error})

    def model_event(
        self, event: str, domain: str, version: int, seconds: float | None = None, error: str | None = None, source: str = "primed"
    ) -> None:
        model = f"{domain}@{version}"
        if event == "load" and seconds is not None:
            self._safe(self.model_load.observe, seconds, tags={"model": model, "source": source})
        elif event in ("hit", "miss", "load_failed"):
            self._safe(self.model_cache.inc, 1, tags={"result": event, "model": model})

    def state(self, loaded: int, ready: bool) -> None:
        self._safe(self.models_loaded.set, loaded)
        self._safe(self.ready.set, 1 if ready else 0)
