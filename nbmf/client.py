"""A small HTTP client for the nbmf endpoint, with retries on 503 and connection errors.

with Client("http://127.0.0.1:8000") as c:
    frames = c.encode(["a record", {"k": 1}], domain="legal")
    values = c.decode(frames)
"""

from __future__ import annotations

import base64
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


class Client:
    def __init__(self, base_url: str, token: str | None = None, retries: int = 5, backoff_s: float = 0.2, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)
        self.retries = retries
        self.backoff_s = backoff_s

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                r = self.http.post(path, json=body)
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout) as exc:
                last = exc
            else:
                if r.status_code == 200:
                    out: dict[str, Any] = r.json()
                    return out
                if r.status_code not in (502, 503, 504):
                    raise ClientError(r.status_code, _detail(r))
                last = ClientError(r.status_code, _detail(r))
                wait = float(r.headers.get("retry-after", 0) or 0)
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

    def decode(self, frames: list[bytes]) -> list[Any]:
        """Values of ``frames`` (bytes payloads come back as bytes)."""
        resp = self._post("/v1/decode", {"frames": [base64.b64encode(f).decode() for f in frames]})
        return [base64.b64decode(p["payload"]) if p["payload_type"] == "bytes" else p["payload"] for p in resp["payloads"]]

    def models(self) -> dict[str, Any]:
        r = self.http.get("/v1/models")
        if r.status_code != 200:
            raise ClientError(r.status_code, _detail(r))
        out: dict[str, Any] = r.json()
        return out


def _detail(r: httpx.Response) -> Any:
    try:
        return r.json().get("detail", r.text)
    except ValueError:
        return r.text
