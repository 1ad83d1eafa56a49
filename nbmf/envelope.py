"""The warm store's encryption at rest: an AES-256-GCM envelope around a whole record file.

    file = {"__encrypted__": {"alg": "AESGCM", "nonce": b64url(12 random bytes), "ciphertext": b64url(ct + tag)}}
    key  = sha256(material); material = $DAENA_MEMORY_AES_KEY decoded as urlsafe base64, else base64,
           else hex, else its UTF-8 text (the memory service's own rule, so both read each other's files)

The order matters and is the service's: text that is valid base64 is read as base64 even when it
looks like hex (64 hex digits are valid base64), so keys must be derived exactly this way to match.
No associated data. A wrong key or a changed byte fails the GCM tag: ``IntegrityError``, never garbage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from nbmf.errors import FrameError, IntegrityError

KEY_ENV = "DAENA_MEMORY_AES_KEY"
ENVELOPE_KEY = "__encrypted__"


def key_from_material(text: str) -> bytes:
    """The AES-256 key for key material as the service reads it (urlsafe b64 -> b64 -> hex -> UTF-8)."""
    material: bytes | None = None
    for decode in (base64.urlsafe_b64decode, base64.b64decode, bytes.fromhex):
        try:
            material = decode(text)
            break
        except (binascii.Error, ValueError):
            continue
    if material is None:
        material = text.encode("utf-8")
    return hashlib.sha256(material).digest()


def key_from_env() -> bytes | None:
    text = os.environ.get(KEY_ENV)
    return key_from_material(text) if text else None


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_envelope(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get(ENVELOPE_KEY), dict)


def seal(plaintext: bytes, key: bytes) -> bytes:
    """``plaintext`` as an envelope file (JSON bytes)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext, None)
    env = {"alg": "AESGCM", "nonce": base64.urlsafe_b64encode(nonce).decode(), "ciphertext": base64.urlsafe_b64encode(ct).decode()}
    return json.dumps({ENVELOPE_KEY: env}).encode()


def open_envelope(doc: dict[str, Any], key: bytes | None, where: str) -> bytes:
    """The plaintext of an envelope (already parsed); typed errors for a missing or wrong key."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    env = doc[ENVELOPE_KEY]
    if env.get("alg") != "AESGCM":
        raise FrameError(f"{where}: unknown encryption {env.get('alg')!r} (this nbmf reads AESGCM)")
    if key is None:
        raise IntegrityError(f"{where} is encrypted and no key is set: export {KEY_ENV} (the memory service's key)")
    try:
        nonce, ct = _b64url_decode(str(env["nonce"])), _b64url_decode(str(env["ciphertext"]))
    except (KeyError, binascii.Error, ValueError) as exc:
        raise FrameError(f"{where}: malformed encryption envelope ({exc})") from None
    if len(nonce) != 12:
        raise FrameError(f"{where}: AES-GCM nonce is {len(nonce)} bytes, not 12")
    try:
        return bytes(AESGCM(key).decrypt(nonce, ct, None))
    except InvalidTag:
        raise IntegrityError(f"{where}: cannot decrypt (wrong {KEY_ENV}, or the file was modified)") from None
