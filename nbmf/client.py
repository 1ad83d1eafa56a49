"""A small HTTP client for the nbmf endpoint, with retries on 503 and connection errors.

with Client("http://127.0.0.1:8000") as c:
    frames = c.encode(["a record", {"k": 1}], domain="legal")
    values = c.decode(frames)

``direct=True``: where the endpoint runs Serve's direct ingress, requests go round-robin straight to
the ingress replicas that ``GET /v1/endpoints`` lists (no Serve proxy hop). A replica that stops
answering is dropped and the request goes to the next one or to ``base_url``; the list is fetched
again every ``refresh_s`` seconds, so replicas added by autoscaling are picked up. Only replicas on
the host of ``base_url`` (or one of ``allowed_hosts``) are used: the bearer token never goes elsewhere.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from nbmf.errors import NBMFError


class ClientError(NBMFError):
    """The server refused the request (4xx) or stayed unavailable through every retry."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


_TRANSPORT_ERRORS = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.ConnectTimeout)


class Client:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        retries: int = 5,
        backoff_s: float = 0.2,
        timeout_s: float = 30.0,
        direct: bool = False,
        refresh_s: float = 30.0,
        allowed_hosts: list[str] | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.direct = direct
        self.refresh_s = refresh_s
        self.allowed_hosts = {httpx.URL(base_url).host, *(allowed_hosts or ())}
        self._targets: list[str] = []  # direct-ingress replica URLs in use
        self._listed_at = -float("inf")
        self._next = 0

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    @property
    def targets(self) -> list[str]:
        """The direct-ingress replica URLs this client is sending to now (empty: ``base_url``)."""
        return list(self._targets)

    def endpoints(self) -> list[str]:
        """The ingress replicas' own URLs the server lists (empty without direct ingress)."""
        r = self.http.get("/v1/endpoints")
        if r.status_code != 200:
            raise ClientError(r.status_code, _detail(r))
        return [str(u) for u in r.json().get("endpoints", [])]

    def _target(self) -> str | None:
        """The next direct-ingress replica URL, or None for ``base_url``."""
        if not self.direct:
            return None
        if time.monotonic() - self._listed_at > self.refresh_s:
            self._listed_at = time.monotonic()
            try:
                # the bearer token goes only to hosts the caller named, never to whatever the server lists
                self._targets = [u for u in self.endpoints() if httpx.URL(u).host in self.allowed_hosts]
            except (ClientError, ValueError, *_TRANSPORT_ERRORS):
                self._targets = []  # the base URL answers until the next refresh
        if not self._targets:
            return None
        self._next = (self._next + 1) % len(self._targets)
        return self._targets[self._next]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            target = self._target()
            try:
                r = self.http.post(target + path if target else path, json=body)
            except _TRANSPORT_ERRORS as exc:
                last = exc
                if target is not None:  # that replica is gone: drop it, try the next (or the proxy) at once
                    self._targets = [t for t in self._targets if t != target]
                    continue
            else:
                if r.status_code == 200:
                    out: dict[str, Any] = r.json()
                    return out
                if r.status_code not in (502, 503, 504):
                    raise ClientError(r.status_code, _detail(r))
                last = ClientError(r.status_code, _detail(r))
                wait = retry_after_s(r.headers.get("retry-after"))
                time.sleep(max(wait, self.backoff_s * 2**attempt))
                continue
            time.sleep(self.backoff_s * 2**attempt)
        raise ClientError(503, f"gave up after {self.retries + 1} tries: {last}")

    def encode_response(
        self, payloads: list[Any], domain: str, fidelity: str = "lossless", payload_type: str | None = None
    ) -> dict[str, Any]:
        n_bytes = sum(isinstance(p, (bytes, bytearray)) for p in payloads)
        if n_bytes and n_bytes != len(payloads):
            raise ValueError("one request carries one payload type: send bytes payloads in their own request")
        items = [base64.b64encode(p).decode() if isinstance(p, (bytes, bytearray)) else p for p in payloads]
        if payload_type is None and n_bytes:
            payload_type = "bytes"
        body: dict[str, Any] = {"domain": domain, "fidelity": fidelity, "payloads": items}
        if payload_type:
            body["payload_type"] = payload_type
        return self._post("/v1/encode", body)

    def encode(self, payloads: list[Any], domain: str, fidelity: str = "lossless", payload_type: str | None = None) -> list[bytes]:
        """Frames (bytes) of ``payloads``."""
        resp = self.encode_response(payloads, domain, fidelity, payload_type)
        return [base64.b64decode(f["frame"]) for f in resp["frames"]]

    def decode_response(self, frames: list[bytes | str | dict[str, Any]]) -> dict[str, Any]:
        """The whole ``/v1/decode`` answer for frames (bytes) or memory-service blobs (dicts or their JSON text)."""
        items = [
            base64.b64encode(f).decode() if isinstance(f, (bytes, bytearray)) else f if isinstance(f, str) else json.dumps(f)
            for f in frames
        ]
        return self._post("/v1/decode", {"frames": items})

    def decode(self, frames: list[bytes | str | dict[str, Any]]) -> list[Any]:
        """Values of ``frames`` or blobs (bytes payloads come back as bytes)."""
        resp = self.decode_response(frames)
        return [base64.b64decode(p["payload"]) if p["payload_type"] == "bytes" else p["payload"] for p in resp["payloads"]]

    def models(self) -> dict[str, Any]:
        r = self.http.get("/v1/models")
        if r.status_code != 200:
            raise ClientError(r.status_code, _detail(r))
        out: dict[str, Any] = r.json()
        return out


def retry_after_s(value: str | None, cap_s: float = 30.0) -> float:
    """Seconds a ``Retry-After`` header asks for: delta-seconds or an HTTP date (RFC 9110); 0 if unreadable."""
    if not value:
        return 0.0
    try:
        return min(cap_s, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        import email.utils

        when = email.utils.parsedate_to_datetime(value)
        return min(cap_s, max(0.0, when.timestamp() - time.time()))
    except (TypeError, ValueError, OverflowError):
        return 0.0


def _detail(r: httpx.Response) -> Any:
    try:
        return r.json().get("detail", r.text)
    except ValueError:
        return r.text
