"""Where models live in Serve: a replica that hosts a ``ModelService`` and codes batches with it.

The Encoder deployment is one (split topology: models on their own replicas, reached through Serve's
multiplexing by ``domain@version``); with ``colocate`` the Ingress replicas are (no hop). Either way a
replica's constructor loads the production and canary versions of every domain before it returns, so
Serve sends it no traffic until they are in memory (bounded by ``preload_timeout_s``; past it the
replica starts, says so on ``/readyz`` and in ``nbmf_ready``, and keeps loading).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from typing import Any

from ray import serve

from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.models import ModelKey, ModelService, model_id, parse_model_id
from nbmf.payload import Fidelity, PayloadType
from serve.metrics import ServeMetrics

log = logging.getLogger("nbmf.serve")

READY_NICE_ENV = "NBMF_READY_NICE"
READY_NICE = 0


def take_serving_priority() -> int | None:
    """Give this replica, now ready, the CPU before replicas that are still starting.

    Ray starts every worker process at niceness 15 (its ``worker_niceness``), so a replica that is
    starting (Ray's boot, imports, loading models: 2-3 CPU seconds) and one that serves traffic share
    a node's CPUs as equals, and during a scale-up the new ones slow the old ones' requests. A ready
    replica lowers its niceness to ``NBMF_READY_NICE`` (default 0; "off": leave it); starting ones keep
    Ray's 15. Lowering a niceness needs CAP_SYS_NICE (root has it; the Ray images' user ``ray`` has
    not): without it the replica keeps Ray's niceness, as before, and logs a warning. Returns the
    niceness it runs at (None: not changed). docs/OPERATIONS.md, "Scale-up"."""
    want = os.environ.get(READY_NICE_ENV, str(READY_NICE)).strip()
    if want.lower() in ("off", ""):
        return None
    try:
        nice = int(want)
        # Linux keeps a niceness per thread (threads inherit their creator's): every thread of the replica
        # (Ray's, Serve's event loops, the coding pool) is lowered, and threads started later inherit it
        tids = [int(t) for t in os.listdir("/proc/self/task")] if os.path.isdir("/proc/self/task") else [0]
        for tid in tids:
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) > nice:
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
            except ProcessLookupError:  # the thread ended meanwhile
                continue
        return os.getpriority(os.PRIO_PROCESS, 0)
    except ValueError:
        log.warning("%s=%r is not a niceness (-20..19 or off): left as it is", READY_NICE_ENV, want)
    except OSError as exc:  # EPERM / EACCES: no CAP_SYS_NICE
        log.warning("could not lower this replica's niceness to %s (%s): it serves at Ray's niceness", want, exc.strerror)
    return None


MODELS_PER_REPLICA = 8  # the model service's bound; Serve's multiplexing is told the same number

# Per-request latency on small machines: run user code on the replica's own event loop (no thread
# hop per request; every blocking call here already goes to a worker thread), route handle calls
# from the same loop, and buffer the request-path logs. Serve reads these when a replica starts.
LOW_LATENCY_ENV = {
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
    "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000",
}
QUIET_LOGS = {"enable_access_log": False}


class CodecHost:
    """A replica holding models: one ``ModelService`` (loads, LRU, channels) and batched coding over it."""

    models: ModelService
    metrics: ServeMetrics
    wanted: list[ModelKey]

    def _start_host(self, registry: str | None, channel_ttl_s: float) -> None:
        self.metrics = ServeMetrics()
        self.models = ModelService(registry, MODELS_PER_REPLICA, channel_ttl_s, listener=self.metrics.model_event)
        self.wanted = []

    async def _preload(self, wanted: list[str] | None, timeout_s: float) -> None:
        """Load ``wanted`` (model ids; None: the production and canary versions the registry names now)
        before the constructor returns: Serve sends a replica no traffic before that."""
        if wanted is None:
            try:
                self.wanted = await asyncio.wait_for(asyncio.to_thread(self.models.wanted), timeout_s)
            except Exception as exc:  # registry down at start: serve (stub fallbacks), load on first use
                log.warning("could not list the models to preload: %s: %s", type(exc).__name__, exc)
                self.wanted = []
        else:
            self.wanted = [parse_model_id(m) for m in wanted]
        if not self.wanted:
            self.metrics.state(0, True)
            return
        loads = asyncio.gather(*(asyncio.to_thread(self._load_quietly, k) for k in self.wanted))
        try:
            await asyncio.wait_for(asyncio.shield(loads), timeout_s)
        except TimeoutError:
            log.warning("models %s not loaded after %.0f s: serving (stub fallbacks) while they load", self.missing(), timeout_s)
        self._report_state()

    def _load_quietly(self, key: ModelKey) -> None:
        try:
            self.models.load(*key)
        except Exception as exc:  # retried on first use; readiness says it is missing
            log.warning("preloading %s failed: %s: %s", model_id(*key), type(exc).__name__, exc)

    def missing(self) -> list[str]:
        return [model_id(*k) for k in self.models.missing(self.wanted)]

    def _report_state(self) -> None:
        self.metrics.state(len(self.models.loaded()), not self.missing())

    async def get_model(self, mid: str) -> DomainModel:
        domain, version = parse_model_id(mid)
        hit = self.models.cached(domain, version)
        if hit is not None:
            self.metrics.model_event("hit", domain, version)
            return hit
        model = await asyncio.to_thread(self.models.load, domain, version)
        self._report_state()
        return model

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)  # no added latency: batches form from queued calls
    async def _run(self, items: list[tuple[str, str, Any]]) -> list[Any]:
        # A batch may hold requests for several models (Ray < PR #59334 mixed them): group by model id.
        groups: dict[str, list[int]] = defaultdict(list)
        for i, (mid, _, _) in enumerate(items):
            groups[mid].append(i)
        out: list[Any] = [None] * len(items)
        for mid, idxs in groups.items():
            try:
                model = await self.get_model(mid)
            except Exception as exc:
                for i in idxs:
                    out[i] = exc
                continue
            codec = NBMF(model=model)
            for i in idxs:
                _, op, arg = items[i]
                try:
                    if op == "encode":
                        data, fid, ptype = arg
                        enc = await asyncio.to_thread(codec.encode_bytes, data, Fidelity(fid), PayloadType(ptype), model)
                        out[i] = (enc.frame, enc.codec.name.lower(), mid)
                    else:
                        out[i] = await asyncio.to_thread(codec.decode_bytes, arg)
                except Exception as exc:
                    out[i] = exc
        return out

    async def call(self, mid: str, op: str, arg: Any) -> Any:
        result = await self._run((mid, op, arg))
        if isinstance(result, Exception):
            raise result
        return result


@serve.deployment(
    ray_actor_options={"num_cpus": 0.25, "runtime_env": {"env_vars": LOW_LATENCY_ENV}},
    max_ongoing_requests=16,
    max_queued_requests=64,
    logging_config=QUIET_LOGS,
)
class Encoder(CodecHost):
    async def __init__(  # type: ignore[misc]  # Serve awaits an async constructor before routing to the replica
        self, registry: str | None, preload: list[str] | None = None, preload_timeout_s: float = 90.0
    ) -> None:
        self._start_host(registry, 30.0)
        await self._preload(preload, preload_timeout_s)
        take_serving_priority()

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def get_model(self, mid: str) -> DomainModel:
        # Serve's multiplexing routes each model id to replicas that report it; the model itself is held
        # (and bounded, with the same number) by this replica's ModelService.
        return await CodecHost.get_model(self, mid)

    def check_health(self) -> None:
        self._report_state()
