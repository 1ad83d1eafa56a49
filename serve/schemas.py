"""Request and response models of the HTTP API (they make the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator


class EncodeRequest(BaseModel):
    domain: str = Field(description="domain whose production (or canary) model encodes", examples=["legal"])
    fidelity: Literal["lossless", "semantic"] = "lossless"
    payload_type: Literal["str", "json", "bytes"] | None = Field(
        None, description="default: str for strings, json otherwise; bytes are base64"
    )
    payload: Any = None
    payloads: list[Any] | None = None

    @model_validator(mode="after")
    def one_of(self) -> EncodeRequest:
        if (self.payload is None) == (self.payloads is None):
            raise ValueError("give exactly one of 'payload' or 'payloads'")
        return self

    def items(self) -> list[Any]:
        return [self.payload] if self.payloads is None else list(self.payloads)


class EncodedFrame(BaseModel):
    frame: str = Field(description="the NBMF frame, base64")
    codec: str
    model: str | None = Field(None, description="domain@version that coded it, if any")
    original_size: int
    coded_size: int
    fallback: str | None = Field(None, description="why a fallback codec answered, if one did")


class EncodeResponse(BaseModel):
    frames: list[EncodedFrame]


class DecodeRequest(BaseModel):
    frame: str | None = Field(None, description="an NBMF frame (base64), or a memory-service blob (old stub or nbmf) as JSON text")
    frames: list[str] | None = None

    @model_validator(mode="after")
    def one_of(self) -> DecodeRequest:
        if (self.frame is None) == (self.frames is None):
            raise ValueError("give exactly one of 'frame' or 'frames'")
        return self

    def items(self) -> list[str]:
        return [self.frame] if self.frames is None else list(self.frames)  # type: ignore[list-item]


class DecodedPayload(BaseModel):
    payload: Any = Field(description="the value; bytes come back base64")
    payload_type: Literal["str", "json", "bytes"]
    fidelity: Literal["lossless", "semantic"]
    codec: str
    model: str | None = None
    truncated: bool = Field(False, description="an old semantic stub blob cut at 2,048 characters: its preview only")
    verified: bool = Field(True, description="checked against the frame checksum or the old blob's sig")


class DecodeResponse(BaseModel):
    payloads: list[DecodedPayload]


class ServeConfig(BaseModel):
    """Everything the app builder takes (``args`` in the Serve config YAML)."""

    registry: str | None = Field(None, description="registry root URI; none: every record is coded by the stub")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1)
    max_batch: int = Field(256, ge=1, description="payloads or frames per request")
    max_record_bytes: int = Field(1 << 20, ge=1)
    auth_token: str | None = Field(
        None, description="require 'Authorization: Bearer <token>' (prefer auth_token_env / auth_token_file: YAML is not a secret store)"
    )
    auth_token_env: str | None = Field("NBMF_AUTH_TOKEN", description="environment variable holding the token (read by each replica)")
    auth_token_file: str | None = Field(None, description="file holding the token (a mounted secret)")
    auth_disabled: bool = Field(False, description="answer without a token even where one is configured nowhere: say so explicitly")

    @model_validator(mode="after")
    def _no_empty_token(self) -> ServeConfig:
        if self.auth_token is not None and not self.auth_token.strip():
            raise ValueError("auth_token is empty: set a real token, or auth_disabled: true to serve without one")
        return self

    def resolve_token(self) -> str | None:
        """The bearer token from the config, its file or its environment variable (first set wins)."""
        import os

        if self.auth_token:
            return self.auth_token
        if self.auth_token_file:
            try:
                token = open(self.auth_token_file, encoding="utf-8").read().strip()
            except OSError as exc:
                raise ValueError(f"auth_token_file {self.auth_token_file}: {exc}") from None
            if not token:
                raise ValueError(f"auth_token_file {self.auth_token_file} is empty")
            return token
        token = os.environ.get(self.auth_token_env or "", "").strip() if self.auth_token_env else ""
        return token or None

    request_timeout_s: float = Field(10.0, gt=0)
    model_load_timeout_s: float = Field(5.0, gt=0, description="encode falls back to the stub while a model loads")
    max_in_flight: int = Field(64, ge=1, description="per ingress replica; beyond it: 503 with Retry-After")
    channel_ttl_s: float = Field(2.0, ge=0, description="how long a domain's channels are cached")
    preload: bool = Field(True, description="a replica that hosts models loads production and canary versions before taking traffic")
    preload_timeout_s: float = Field(
        120.0, gt=0, description="past this a replica starts anyway (stub fallbacks, /readyz 503) and keeps loading"
    )
    colocate: bool = Field(
        False,
        description="code in the ingress replicas (one hop fewer, lowest latency) instead of a separate Encoder deployment",
    )
