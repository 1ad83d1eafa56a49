"""The nbmf HTTP endpoint on Ray Serve.

client ──HTTP──▶ Ingress (FastAPI: auth, limits, routing, fallback)
                   │ encode: production / canary version of the domain ─┐
                   │ decode: the exact version named in each frame      ├─▶ Encoder (multiplexed by
                   │ stub / stored frames and fallbacks: answered here  ┘    "domain@version", batched,
                                                                              one model per batch)
colocate: true — the Ingress replicas host the codec themselves (an LRU of loaded models, the same
batching, one process hop fewer): the low-latency topology for small nodes.
direct ingress (RAY_SERVE_ENABLE_DIRECT_INGRESS=1 on the cluster; ``nbmf serve --direct``) — each
Ingress replica also listens on its own port; ``GET /v1/endpoints`` lists them and
``Client(direct=True)`` spreads requests over them, skipping the Serve proxy hop.
serve deploy serve/config.yaml      or      nbmf serve (local, 127.0.0.1)
"""

import asyncio
import base64
import binascii
import hmac
import logging
import os
import random
import time
from collections import OrderedDict, defaultdict
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from ray import serve

from nbmf import frame as fr
from nbmf.artifact import DomainModel
from nbmf.blob import blob_frame, is_nbmf_blob
from nbmf.codec import NBMF, Decoded
from nbmf.errors import (
    ChecksumError,
    CodecError,
    FrameError,
    IntegrityError,
    ModelNotFoundError,
    NBMFError,
    OversizeError,
    PayloadError,
    RegistryError,
    StorageError,
)
from nbmf.payload import Fidelity, PayloadType, from_bytes, infer_type, to_bytes
from nbmf.registry import Registry
from nbmf.stub_blob import parse_blob, signature
from serve.models import DecodedPayload, DecodeRequest, DecodeResponse, EncodedFrame, EncodeRequest, EncodeResponse, ServeConfig

log = logging.getLogger("nbmf.serve")
api = FastAPI(title="nbmf", version="1", description="Encode and decode memory records with nbmf (frames are base64).")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json(model: Any) -> Response:
    """A response model serialised once by pydantic (FastAPI would validate and encode it again)."""
    return Response(model.model_dump_json(), media_type="application/json")


def _parse(model: Any, body: bytes) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise HTTPException(422, detail) from None


def _payload(d: Any, model: str | None = None) -> DecodedPayload:
    value = _b64(d.value) if d.payload_type is PayloadType.BYTES and isinstance(d.value, bytes) else d.value
    return DecodedPayload(
        payload=value,
        payload_type=d.payload_type.name.lower(),
        fidelity=d.fidelity.name.lower(),
        codec=d.codec,
        model=model,
        truncated=d.truncated,
        verified=d.verified,
    )


LOCAL_DECODE_INLINE_BYTES = 16 * 1024  # stub frames and old blobs up to this size decode on the event loop
DIRECT_INGRESS_SWITCH = "RAY_SERVE_ENABLE_DIRECT_INGRESS"
# Set before Ray starts (its processes read them then). A stopping replica keeps serving this long for
# load balancers to notice (Ray's default: 30 s); nbmf's client drops a replica that stops answering.
DIRECT_INGRESS_ENV = {DIRECT_INGRESS_SWITCH: "1", "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2"}
ENDPOINTS_TTL_S = 2.0


async def _replica_urls(app_name: str) -> list[str]:
    """HTTP URLs of ``app_name``'s running ingress replicas, from the Serve controller's target groups.

    Ray 2.60 publishes them in the instance details (``GET /api/serve/applications``, ``target_groups``);
    a replica bound to loopback is reached on loopback (single-node), otherwise on its node's IP.
    """
    import ray

    controller = ray.get_actor("SERVE_CONTROLLER_ACTOR", namespace="serve")
    details = await controller.get_serve_instance_details.remote()
    host = str((details.get("http_options") or {}).get("host") or "127.0.0.1")
    urls = []
    for group in details.get("target_groups") or []:
        if group.get("app_name") != app_name or str(group.get("protocol", "")).upper().split(".")[-1] != "HTTP":
            continue
        for t in group.get("targets") or []:
            ip = host if host.startswith("127.") or host == "localhost" else t["ip"]
            urls.append(f"http://{ip}:{int(t['port'])}")
    return sorted(set(urls))


MODELS_PER_REPLICA = 4


class ModelCache:
    """Loaded models by id, least recently used dropped beyond ``size``; one load per id at a time.

    Concurrent callers for a model share its load; a caller that gives up (a timeout) does not
    cancel it for the others; a failed load is not cached, so the next call tries again.
    """

    def __init__(self, load: Any, size: int) -> None:
        self._load = load
        self._size = size
        self._models: OrderedDict[str, DomainModel] = OrderedDict()
        self._loading: dict[str, asyncio.Future[DomainModel]] = {}

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._models

    async def get(self, model_id: str) -> DomainModel:
        if model_id in self._models:
            self._models.move_to_end(model_id)
            return self._models[model_id]
        task = self._loading.get(model_id)
        if task is None:
            task = self._loading[model_id] = asyncio.ensure_future(self._load(model_id))
            task.add_done_callback(lambda _t: self._loading.pop(model_id, None))
        model: DomainModel = await asyncio.shield(task)
        self._models[model_id] = model
        self._models.move_to_end(model_id)
        while len(self._models) > self._size:
            self._models.popitem(last=False)
        return model


class CodecHost:
    """Holds loaded model versions (an LRU) and codes batches, one model per batch.

    The Encoder deployment is one; with ``colocate`` the Ingress replicas are too (no hop).
    """

    registry: Registry | None

    def _start_host(self, registry: str | None, preload: list[str] | None) -> None:
        self.registry = Registry(registry) if registry else None
        for model_id in preload or []:
            asyncio.get_event_loop().create_task(self._preload(model_id))

    async def _preload(self, model_id: str) -> None:
        try:
            await self.get_model(model_id)
        except Exception as exc:  # a failed preload is retried on first use
            log.warning("preloading %s failed: %s", model_id, exc)

    async def get_model(self, model_id: str) -> DomainModel:
        raise NotImplementedError  # Encoder: Serve's multiplexing; colocated Ingress: a local LRU

    async def _load(self, model_id: str) -> DomainModel:
        if self.registry is None:
            raise ModelNotFoundError("no registry configured")
        domain, _, version = model_id.partition("@")
        return await asyncio.to_thread(DomainModel.load, self.registry, domain, int(version))

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)  # no added latency: batches form from queued calls
    async def _run(self, items: list[tuple[str, str, Any]]) -> list[Any]:
        # A batch may hold requests for several models (Ray < PR #59334 mixed them): group by model id.
        groups: dict[str, list[int]] = defaultdict(list)
        for i, (model_id, _, _) in enumerate(items):
            groups[model_id].append(i)
        out: list[Any] = [None] * len(items)
        for model_id, idxs in groups.items():
            try:
                model = await self.get_model(model_id)
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
                        out[i] = (enc.frame, enc.codec.name.lower(), model_id)
                    else:
                        out[i] = await asyncio.to_thread(codec.decode_bytes, arg)
                except Exception as exc:
                    out[i] = exc
        return out

    async def call(self, model_id: str, op: str, arg: Any) -> Any:
        result = await self._run((model_id, op, arg))
        if isinstance(result, Exception):
            raise result
        return result


# Per-request latency on small machines: run user code on the replica's own event loop (no thread
# hop per request; every blocking call here already goes to a worker thread), route handle calls
# from the same loop, and buffer the request-path logs. Serve reads these when a replica starts.
LOW_LATENCY_ENV = {
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
    "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000",
}
QUIET_LOGS = {"enable_access_log": False}


@serve.deployment(
    ray_actor_options={"num_cpus": 0.25, "runtime_env": {"env_vars": LOW_LATENCY_ENV}},
    max_ongoing_requests=16,
    max_queued_requests=64,
    logging_config=QUIET_LOGS,
)
class Encoder(CodecHost):
    def __init__(self, registry: str | None, preload: list[str] | None = None) -> None:
        self._start_host(registry, preload)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def get_model(self, model_id: str) -> DomainModel:
        return await self._load(model_id)


@serve.deployment(
    ray_actor_options={"num_cpus": 0.1, "runtime_env": {"env_vars": LOW_LATENCY_ENV}},
    max_ongoing_requests=256,
    logging_config=QUIET_LOGS,
)
@serve.ingress(api)
class Ingress(CodecHost):
    def __init__(self, encoder: Any, config: dict[str, Any], preload: list[str] | None = None) -> None:
        self.cfg = ServeConfig.model_validate(config)
        self.encoder = encoder  # None: this replica codes itself (colocate)
        if encoder is None:
            self._models = ModelCache(self._load, MODELS_PER_REPLICA)
            self._start_host(self.cfg.registry, preload)
        else:
            self.registry = Registry(self.cfg.registry) if self.cfg.registry else None
        self.local = NBMF(max_record_bytes=self.cfg.max_record_bytes)  # stub codec, no model
        self.token = None if self.cfg.auth_disabled else self.cfg.resolve_token()
        self.channels: dict[str, tuple[float, Any]] = {}
        self.refs: dict[fr.ModelRef, list[str]] = {}
        self.in_flight = 0
        self.handles: dict[str, Any] = {}
        self._direct: tuple[float, list[str]] = (-1e9, [])

    # ---- cross-cutting: auth, body limit, backpressure ----------------------------------------
    async def _guard(self, request: Request) -> bytes:
        if self.token is not None:  # constant-time: the comparison must not tell how much of a guess was right
            got = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(got, b"Bearer " + self.token.encode()):
                raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.cfg.max_body_bytes:
            raise HTTPException(413, f"body of {declared} bytes is over the {self.cfg.max_body_bytes}-byte limit")
        chunks, size = [], 0
        async for chunk in request.stream():  # chunked uploads have no Content-Length: count as they arrive
            size += len(chunk)
            if size > self.cfg.max_body_bytes:
                raise HTTPException(413, f"body is over the {self.cfg.max_body_bytes}-byte limit")
            chunks.append(chunk)
        body = b"".join(chunks)
        if self.in_flight >= self.cfg.max_in_flight:
            raise HTTPException(503, "busy: too many requests in flight", headers={"Retry-After": "1"})
        return body

    def _serving(self, domain: str) -> int | None:
        if self.registry is None:
            return None
        now = time.monotonic()
        hit = self.channels.get(domain)
        if hit is None or now - hit[0] > self.cfg.channel_ttl_s:
            try:
                hit = (now, self.registry.channels(domain))
            except Exception:
                if hit is None:
                    raise
                log.warning("registry unavailable: %s keeps its last channels", domain)  # stale beats no model
                hit = (now, hit[1])
            self.channels[domain] = hit
        ch = hit[1]
        if ch.canary is not None and random.uniform(0, 100) < ch.canary.percent:
            return int(ch.canary.version)
        return None if ch.production is None else int(ch.production)

    async def get_model(self, model_id: str) -> DomainModel:
        # Not Serve's multiplexing: HTTP requests reach the ingress unrouted by model id, and Serve
        # does not support multiplexing on an ingress deployment under direct ingress (ray #64045).
        return await self._models.get(model_id)

    def _code(self, model_id: str, op: str, arg: Any) -> Any:
        """An awaitable codec call: here (colocated) or on an Encoder replica that holds the model."""
        if self.encoder is None:
            return self.call(model_id, op, arg)
        h = self.handles.get(model_id)
        if h is None:  # one handle per model id (routing to replicas that hold it), made once
            h = self.handles[model_id] = self.encoder.options(multiplexed_model_id=model_id)
        return h.call.remote(model_id, op, arg)

    def _check_batch(self, n: int) -> None:
        if n > self.cfg.max_batch:
            raise HTTPException(413, f"{n} items in one request; the limit is {self.cfg.max_batch}")

    # ---- routes -------------------------------------------------------------------------------
    @api.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/v1/endpoints")
    async def endpoints(self, request: Request) -> dict[str, Any]:
        """The Ingress replicas' own HTTP addresses under direct ingress (empty when it is off)."""
        await self._guard(request)
        return {"direct_ingress": os.environ.get(DIRECT_INGRESS_SWITCH) == "1", "endpoints": await self._direct_endpoints()}

    async def _direct_endpoints(self) -> list[str]:
        at, urls = self._direct
        if time.monotonic() - at < ENDPOINTS_TTL_S:
            return urls
        urls = []
        if os.environ.get(DIRECT_INGRESS_SWITCH) == "1":
            try:
                urls = await _replica_urls(serve.get_replica_context().app_name)
            except Exception as exc:  # the proxy URL keeps working: clients just don't get a shortcut
                log.warning("could not list direct-ingress endpoints: %s: %s", type(exc).__name__, exc)
        self._direct = (time.monotonic(), urls)
        return urls

    @api.get("/v1/models")
    async def models(self, request: Request) -> dict[str, Any]:
        await self._guard(request)
        return {"domains": await asyncio.to_thread(self.registry.describe) if self.registry else {}}

    @api.post("/v1/encode", response_model=EncodeResponse)
    async def encode(self, request: Request) -> Response:
        body = await self._guard(request)
        req = _parse(EncodeRequest, body)
        items = req.items()
        self._check_batch(len(items))
        fid = Fidelity.parse(req.fidelity)
        prepared = []
        for i, value in enumerate(items):
            ptype = PayloadType.parse(req.payload_type) if req.payload_type else infer_type(value)
            try:
                if ptype is PayloadType.BYTES:
                    value = base64.b64decode(value, validate=True)
                data = to_bytes(value, ptype, fid)
            except (PayloadError, binascii.Error, TypeError) as exc:
                raise HTTPException(422, f"payload {i}: {exc}") from None
            if len(data) > self.cfg.max_record_bytes:
                raise HTTPException(413, f"payload {i} is {len(data)} bytes; the limit is {self.cfg.max_record_bytes}")
            prepared.append((data, ptype))
        self.in_flight += 1
        try:
            cached = self.channels.get(req.domain)
            fresh = cached is not None and time.monotonic() - cached[0] <= self.cfg.channel_ttl_s
            # a cached channel read is instant; only a registry read goes to a thread
            why: str | None = None
            try:
                version = self._serving(req.domain) if fresh else await asyncio.to_thread(self._serving, req.domain)
            except Exception as exc:  # registry unreachable or corrupt, no channels seen yet: the stub answers
                log.warning("channels of %s unavailable: %s", req.domain, exc)
                version, why = None, f"registry unavailable ({type(exc).__name__})"
            results = await asyncio.gather(*(self._encode_one(req.domain, version, d, fid, t, why) for d, t in prepared))
        finally:
            self.in_flight -= 1
        return _json(EncodeResponse(frames=list(results)))

    async def _encode_one(
        self, domain: str, version: int | None, data: bytes, fid: Fidelity, ptype: PayloadType, why: str | None = None
    ) -> EncodedFrame:
        fallback = (why or "no model for this domain") if version is None else None
        if version is not None:
            model_id = f"{domain}@{version}"
            try:
                call = self._code(model_id, "encode", (data, int(fid), int(ptype)))
                frame, codec, used = await asyncio.wait_for(call, timeout=self.cfg.model_load_timeout_s)
                return EncodedFrame(frame=_b64(frame), codec=codec, model=used, original_size=len(data), coded_size=len(frame))
            except TimeoutError:
                fallback = f"model {model_id} did not answer within {self.cfg.model_load_timeout_s} s"
            except Exception as exc:  # load failure, replica death, backpressure: the stub answers
                fallback = f"model {model_id} failed: {type(exc).__name__}: {str(exc)[:200]}"
        enc = self.local.encode_bytes(data, fid, ptype, None)
        return EncodedFrame(
            frame=_b64(enc.frame), codec=enc.codec.name.lower(), original_size=len(data), coded_size=len(enc.frame), fallback=fallback
        )

    @api.post("/v1/decode", response_model=DecodeResponse)
    async def decode(self, request: Request) -> Response:
        body = await self._guard(request)
        req = _parse(DecodeRequest, body)
        items = req.items()
        self._check_batch(len(items))
        self.in_flight += 1
        try:
            out = await asyncio.gather(*(self._decode_one(i, f) for i, f in enumerate(items)))
        finally:
            self.in_flight -= 1
        try:
            return _json(DecodeResponse(payloads=list(out)))
        except ValueError as exc:  # pydantic's serialisation error: text with lone surrogates has no JSON form
            raise HTTPException(
                422, f"a decoded value cannot be written as JSON ({str(exc)[:120]}); decode it with the nbmf library"
            ) from None

    async def _decode_one(self, i: int, text: str) -> DecodedPayload:
        sig = None
        try:
            stripped = text.lstrip()
            if stripped.startswith("{"):  # a memory-service blob, as JSON text
                blob = parse_blob(stripped)
                if not is_nbmf_blob(blob):  # the old stub's: decoded here, no model needed
                    return _payload(await self._off_loop(self.local.decode_blob, blob, len(stripped)))
                raw, sig = blob_frame(blob, self.cfg.max_record_bytes + 64), blob["sig"].lower()
            else:
                try:
                    raw = base64.b64decode(text, validate=True)
                except binascii.Error:
                    raise HTTPException(422, f"frame {i} is not base64") from None
            decoded = await self._decode_frame(raw)
            if sig is not None and signature(decoded.payload) != sig:
                raise ChecksumError("nbmf blob: 'sig' does not match its decoded value (tampered or corrupt); refusing it")
            return decoded
        except ModelNotFoundError as exc:
            raise HTTPException(404, f"frame {i}: {exc}") from None
        except IntegrityError:  # the server's artifact is bad, not the request; details stay in the server log
            log.error("frame %d: model artifact failed its integrity check", i, exc_info=True)
            raise HTTPException(500, f"frame {i}: the model this frame names failed its integrity check on the server") from None
        except (StorageError, RegistryError):  # never name the registry's address in an answer
            log.warning("frame %d: registry unavailable", i, exc_info=True)
            raise HTTPException(503, f"frame {i}: the model registry is unavailable; retry", headers={"Retry-After": "2"}) from None
        except OversizeError as exc:
            raise HTTPException(413, f"frame {i}: {exc}") from None
        except (FrameError, NBMFError) as exc:
            raise HTTPException(422, f"frame {i}: {exc}") from None

    async def _decode_frame(self, raw: bytes) -> DecodedPayload:
        """A frame through the model it names (a stub or stored frame needs none)."""
        header, _ = fr.unpack(raw)
        if header.length > self.cfg.max_record_bytes:  # before any model work (this deployment's one limit)
            raise OversizeError(f"frame claims {header.length} bytes; the record limit is {self.cfg.max_record_bytes}")
        if header.model is None:  # stub and stored frames never need a model
            return _payload(await self._off_loop(self.local.decode_record, raw, len(raw)))
        cached = self.refs.get(header.model)
        model_ids = cached if cached is not None else await asyncio.to_thread(self._model_ids, header.model)
        for n, model_id in enumerate(model_ids):  # one, unless versions published before references were unique share it
            try:
                call = self._code(model_id, "decode", raw)
                header, data = await asyncio.wait_for(call, timeout=self.cfg.request_timeout_s)
                break
            except TimeoutError:
                raise HTTPException(503, f"model {model_id} is loading; retry", headers={"Retry-After": "2"}) from None
            except Exception as exc:
                err = exc if isinstance(exc, NBMFError) else getattr(exc, "cause", None)
                if isinstance(err, (ChecksumError, CodecError)) and n + 1 < len(model_ids):
                    continue  # the next version with this reference may be the one whose checksum verifies
                if isinstance(err, NBMFError):
                    raise err from None
                raise HTTPException(503, f"decoder unavailable ({type(exc).__name__}); retry", headers={"Retry-After": "1"}) from None
        value = from_bytes(data, header.payload_type)
        return _payload(Decoded(value, header.payload_type, header.fidelity, header.codec.name.lower(), header.model), model_id)

    async def _off_loop(self, fn: Any, arg: Any, size: int) -> Any:
        """Small inputs are decoded here (a thread hop costs more than they do); larger ones (up to the record
        limit: an inflate of 1 MiB) in a worker thread, so the event loop keeps serving other requests."""
        return fn(arg) if size <= LOCAL_DECODE_INLINE_BYTES else await asyncio.to_thread(fn, arg)

    def _model_ids(self, ref: fr.ModelRef) -> list[str]:
        """The model ids (``domain@version``) a frame reference names, from the registry once, then cached."""
        hit = self.refs.get(ref)
        if hit is None:
            if self.registry is None:
                raise ModelNotFoundError("frame names a model version and no registry is configured")
            hit = self.refs[ref] = [f"{m.domain}@{m.version}" for m in self.registry.find_all(ref)]
        return hit


@api.exception_handler(NBMFError)
async def _nbmf_error(request: Request, exc: NBMFError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404 if isinstance(exc, ModelNotFoundError) else 422)


def app_builder(args: dict[str, Any]) -> Any:
    """``serve run serve.app:app_builder registry=…`` / the Serve config's ``import_path``."""
    return build(ServeConfig.model_validate(args))


def build(cfg: ServeConfig, encoder_options: dict[str, Any] | None = None, ingress_options: dict[str, Any] | None = None) -> Any:
    """The bound application; production (and canary) models are preloaded by the Encoder replicas."""
    preload: list[str] = []
    if cfg.registry and cfg.preload:
        reg = Registry(cfg.registry)
        for domain in reg.domains():
            ch = reg.channels(domain)
            preload += [f"{domain}@{v}" for v in {ch.production, ch.canary.version if ch.canary else None} if v is not None]
    if cfg.colocate:  # the ingress replicas hold the models: no Encoder deployment
        return Ingress.options(**(ingress_options or {})).bind(None, cfg.model_dump(), preload)
    encoder = Encoder.options(**(encoder_options or {})).bind(cfg.registry, preload)
    return Ingress.options(**(ingress_options or {})).bind(encoder, cfg.model_dump())
