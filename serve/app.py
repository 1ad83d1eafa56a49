"""The nbmf HTTP endpoint on Ray Serve: the routes (auth, limits, fallback, errors -> status codes).

client ──HTTP──▶ Ingress (FastAPI: auth, limits, routing, fallback)
                   │ encode: production / canary version of the domain ─┐
                   │ decode: the exact version named in each frame      ├─▶ a CodecHost (serve/hosting.py):
                   │ stub / stored frames and fallbacks: answered here  ┘    the Ingress itself (colocate)
                                                                              or an Encoder replica
The other rooms: serve/hosting.py (where models live, readiness), serve/direct.py (direct ingress),
serve/metrics.py (what operators watch), serve/schemas.py (request, response and config models).
Which version codes a domain, and every loaded model, come from one nbmf.models.ModelService.
serve deploy serve/config.yaml      or      nbmf serve (local, 127.0.0.1)
"""

import asyncio
import base64
import binascii
import hmac
import json
import logging
import os
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from ray import serve

from nbmf import frame as fr
from nbmf.blob import blob_frame, is_nbmf_blob
from nbmf.codec import NBMF, Decoded
from nbmf.config import parse_config
from nbmf.errors import (
    ChecksumError,
    CodecError,
    IntegrityError,
    ModelNotFoundError,
    NBMFError,
    OversizeError,
    PayloadError,
    RegistryError,
    StorageError,
)
from nbmf.models import Choice, Fallback, model_id
from nbmf.payload import Fidelity, PayloadType, from_bytes, infer_type, to_bytes
from nbmf.stub_blob import parse_blob, signature
from serve.direct import Endpoints
from serve.direct import enabled as direct_enabled
from serve.hosting import LOW_LATENCY_ENV, QUIET_LOGS, CodecHost, Encoder, take_serving_priority
from serve.schemas import DecodedPayload, DecodeRequest, DecodeResponse, EncodedFrame, EncodeRequest, EncodeResponse, ServeConfig

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


def _status_of(exc: Exception) -> tuple[int, str, dict[str, str] | None]:
    """The one map from an nbmf error to an HTTP answer (status, detail, headers)."""
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail), dict(exc.headers or {}) or None
    if isinstance(exc, ModelNotFoundError):
        return 404, str(exc), None
    if isinstance(exc, IntegrityError):  # the server's artifact is bad, not the request; details stay in the server log
        return 500, "the model this frame names failed its integrity check on the server", None
    if isinstance(exc, (StorageError, RegistryError)):  # never name the registry's address in an answer
        return 503, "the model registry is unavailable; retry", {"Retry-After": "2"}
    if isinstance(exc, OversizeError):
        return 413, str(exc), None
    if isinstance(exc, NBMFError):
        return 422, str(exc), None
    return 503, f"decoder unavailable ({type(exc).__name__}); retry", {"Retry-After": "1"}


@serve.deployment(
    ray_actor_options={"num_cpus": 0.1, "runtime_env": {"env_vars": LOW_LATENCY_ENV}},
    max_ongoing_requests=256,
    logging_config=QUIET_LOGS,
)
@serve.ingress(api)
class Ingress(CodecHost):
    async def __init__(  # type: ignore[misc]  # Serve awaits an async constructor before routing to the replica
        self, encoder: Any, config: dict[str, Any], preload: list[str] | None = None
    ) -> None:
        self.cfg = ServeConfig.model_validate(config)
        self.encoder = encoder  # None: this replica codes itself (colocate)
        # one model service per replica: with an Encoder it only follows channels and frame references
        self._start_host(self.cfg.registry, self.cfg.channel_ttl_s)
        self.local = NBMF(max_record_bytes=self.cfg.max_record_bytes)  # stub codec, no model
        self.token = None if self.cfg.auth_disabled else self.cfg.resolve_token()
        self.in_flight = 0
        self.handles: dict[str, Any] = {}
        self.endpoints_cache = Endpoints()
        if encoder is None:  # the models are here: no traffic until they are loaded (bounded)
            await self._preload(preload, self.cfg.preload_timeout_s)
        else:
            self.metrics.state(0, True)
        take_serving_priority()

    # ---- cross-cutting: auth, body limit, backpressure, metrics -------------------------------
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

    async def _counted(self, route: str, domain: str, handler: Any) -> Response:
        """Run a route, counting it by status and timing it (every answer, errors included)."""
        t0 = time.perf_counter()
        status = 500
        try:
            resp: Response = await handler()
            status = resp.status_code
            return resp
        except HTTPException as exc:
            status = exc.status_code
            raise
        finally:
            self.metrics.request(route, domain, status, 1e3 * (time.perf_counter() - t0))

    def _code(self, mid: str, op: str, arg: Any) -> Any:
        """An awaitable codec call: here (colocated) or on an Encoder replica that holds the model."""
        if self.encoder is None:
            return self.call(mid, op, arg)
        h = self.handles.get(mid)
        if h is None:  # one handle per model id (routing to replicas that hold it), made once
            h = self.handles[mid] = self.encoder.options(multiplexed_model_id=mid)
        return h.call.remote(mid, op, arg)

    def _check_batch(self, n: int) -> None:
        if n > self.cfg.max_batch:
            raise HTTPException(413, f"{n} items in one request; the limit is {self.cfg.max_batch}")

    # ---- health -------------------------------------------------------------------------------
    @api.get("/livez")
    async def livez(self) -> dict[str, str]:
        """The process answers (nothing else is checked: cheap, for liveness probes)."""
        return {"status": "ok"}

    @api.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        """Kept for earlier clients: the same as /livez."""
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz(self) -> Response:
        """200 once this replica holds the production and canary versions of its domains; 503 (with what is missing) before."""
        missing = self.missing()
        self._report_state()
        body = {"ready": not missing, "loaded": [model_id(*k) for k in self.models.loaded()], "missing": missing}
        body["niceness"] = os.getpriority(os.PRIO_PROCESS, 0)  # 15 (Ray's): take_serving_priority could not lower it
        return Response(json.dumps(body), status_code=200 if not missing else 503, media_type="application/json")

    def check_health(self) -> None:
        """Serve's health check (liveness: a replica still loading is healthy, only not ready)."""
        self._report_state()

    @api.get("/v1/endpoints")
    async def endpoints(self, request: Request) -> dict[str, Any]:
        """The Ingress replicas' own HTTP addresses under direct ingress (empty when it is off)."""
        await self._guard(request)
        return {"direct_ingress": direct_enabled(), "endpoints": await self.endpoints_cache.get()}

    @api.get("/v1/models")
    async def list_models(self, request: Request) -> dict[str, Any]:
        await self._guard(request)
        reg = self.models.registry
        return {"domains": await asyncio.to_thread(reg.describe) if reg else {}}

    # ---- encode -------------------------------------------------------------------------------
    @api.post("/v1/encode", response_model=EncodeResponse)
    async def encode(self, request: Request) -> Response:
        body = await self._guard(request)
        req = _parse(EncodeRequest, body)
        return await self._counted("encode", req.domain, lambda: self._encode(req))

    async def _encode(self, req: EncodeRequest) -> Response:
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
            # a cached channel read is instant; only a registry read goes to a thread. The canary is drawn per record.
            fresh = self.models.channels_fresh(req.domain)
            choices = []
            for _ in prepared:
                choices.append(
                    self.models.serving_version(req.domain) if fresh else await asyncio.to_thread(self.models.serving_version, req.domain)
                )
                fresh = self.models.channels_fresh(req.domain)
            results = await asyncio.gather(*(self._encode_one(req.domain, c, d, fid, t) for c, (d, t) in zip(choices, prepared)))
        finally:
            self.in_flight -= 1
        return _json(EncodeResponse(frames=list(results)))

    async def _encode_one(self, domain: str, choice: Choice, data: bytes, fid: Fidelity, ptype: PayloadType) -> EncodedFrame:
        fallback, kind = choice.fallback, choice.kind
        if choice.version is not None:
            mid = model_id(domain, choice.version)
            limit = self.cfg.model_load_timeout_s
            try:
                if self.encoder is None:
                    # colocated: model_load_timeout_s bounds the wait for the model to load; the coding of records
                    # queued behind each other on a loaded model has request_timeout_s, as a decode has
                    if self.models.cached(domain, choice.version) is None:
                        load = asyncio.to_thread(self.models.load, domain, choice.version)  # single-flight
                        await asyncio.wait_for(asyncio.shield(load), timeout=limit)
                    limit = self.cfg.request_timeout_s
                call = self._code(mid, "encode", (data, int(fid), int(ptype)))
                frame, codec, used = await asyncio.wait_for(call, timeout=limit)
                self.metrics.record("encode", domain, used, codec, len(data), len(frame))
                return EncodedFrame(frame=_b64(frame), codec=codec, model=used, original_size=len(data), coded_size=len(frame))
            except TimeoutError:
                fallback, kind = f"model {mid} did not answer within {limit} s", Fallback.MODEL_TIMEOUT
            except Exception as exc:  # load failure, replica death, backpressure: the stub answers
                fallback, kind = f"model {mid} failed: {type(exc).__name__}: {str(exc)[:200]}", Fallback.MODEL_FAILED
        enc = self.local.encode_bytes(data, fid, ptype, None)
        self.metrics.fallback(domain, (kind or Fallback.NO_MODEL).value)
        self.metrics.record("encode", domain, None, enc.codec.name.lower(), len(data), len(enc.frame))
        return EncodedFrame(
            frame=_b64(enc.frame), codec=enc.codec.name.lower(), original_size=len(data), coded_size=len(enc.frame), fallback=fallback
        )

    # ---- decode -------------------------------------------------------------------------------
    @api.post("/v1/decode", response_model=DecodeResponse)
    async def decode(self, request: Request) -> Response:
        body = await self._guard(request)
        req = _parse(DecodeRequest, body)
        return await self._counted("decode", "", lambda: self._decode(req))

    async def _decode(self, req: DecodeRequest) -> Response:
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
                    out = _payload(await self._off_loop(self.local.decode_blob, blob, len(stripped)))
                    self.metrics.record("decode", "", None, "legacy-stub", len(stripped), len(json.dumps(out.payload)))
                    return out
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
        except Exception as exc:
            status, detail, headers = _status_of(exc)
            self.metrics.decode_failure(type(exc).__name__)
            if status == 500:
                log.error("frame %d: %s", i, detail, exc_info=True)
            elif status == 503:
                log.warning("frame %d: %s", i, detail, exc_info=True)
            if isinstance(exc, HTTPException):
                raise
            raise HTTPException(status, f"frame {i}: {detail}", headers=headers) from None

    async def _decode_frame(self, raw: bytes) -> DecodedPayload:
        """A frame through the model it names (a stub or stored frame needs none)."""
        header, _ = fr.unpack(raw)
        if header.length is not None and header.length > self.cfg.max_record_bytes:  # before any model work (this deployment's one limit)
            raise OversizeError(f"frame claims {header.length} bytes; the record limit is {self.cfg.max_record_bytes}")
        if header.model is None:  # stub and stored frames never need a model
            out = _payload(await self._off_loop(self.local.decode_record, raw, len(raw)))
            self.metrics.record("decode", "", None, header.codec.name.lower(), len(raw), header.length or 0)
            return out
        ref = header.model
        keys = await asyncio.to_thread(self.models.keys_for_ref, ref)  # cached after the first lookup
        if not keys:
            raise ModelNotFoundError(f"no model in the registry matches the frame's reference ({ref.describe()})")
        for n, (domain, version) in enumerate(keys):  # one, unless versions published before references were unique share it
            mid = model_id(domain, version)
            try:
                call = self._code(mid, "decode", raw)
                header, data = await asyncio.wait_for(call, timeout=self.cfg.request_timeout_s)
                break
            except TimeoutError:
                raise HTTPException(503, f"model {mid} is loading; retry", headers={"Retry-After": "2"}) from None
            except Exception as exc:
                err = exc if isinstance(exc, NBMFError) else getattr(exc, "cause", None)
                if isinstance(err, (ChecksumError, CodecError)) and n + 1 < len(keys):
                    continue  # the next version with this reference may be the one whose checksum verifies
                if isinstance(err, NBMFError):
                    raise err from None
                raise
        self.metrics.record("decode", domain, mid, header.codec.name.lower(), len(raw), len(data))
        value = from_bytes(data, header.payload_type)
        return _payload(Decoded(value, header.payload_type, header.fidelity, header.codec.name.lower(), header.model), mid)

    async def _off_loop(self, fn: Any, arg: Any, size: int) -> Any:
        """Small inputs are decoded here (a thread hop costs more than they do); larger ones (up to the record
        limit: an inflate of 1 MiB) in a worker thread, so the event loop keeps serving other requests."""
        return fn(arg) if size <= LOCAL_DECODE_INLINE_BYTES else await asyncio.to_thread(fn, arg)


@api.exception_handler(NBMFError)
async def _nbmf_error(request: Request, exc: NBMFError) -> JSONResponse:
    status, detail, headers = _status_of(exc)
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def app_builder(args: dict[str, Any]) -> Any:
    """``serve run serve.app:app_builder registry=…`` / the Serve config's ``import_path``."""
    return build(parse_config(ServeConfig, args, "the Serve application's args"))


def build(cfg: ServeConfig, encoder_options: dict[str, Any] | None = None, ingress_options: dict[str, Any] | None = None) -> Any:
    """The bound application. Each replica that hosts models loads the production and canary versions the
    registry names when it starts (``preload``), so a replica added by autoscaling loads today's versions."""
    preload: list[str] | None = None if cfg.preload else []  # None: the replica asks the registry
    if cfg.colocate:  # the ingress replicas hold the models: no Encoder deployment
        return Ingress.options(**(ingress_options or {})).bind(None, cfg.model_dump(), preload)
    encoder = Encoder.options(**(encoder_options or {})).bind(cfg.registry, preload, cfg.preload_timeout_s)
    return Ingress.options(**(ingress_options or {})).bind(encoder, cfg.model_dump())
