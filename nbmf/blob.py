"""Memory-service blobs written by nbmf: an NBMF frame in the stub's JSON shape, so version detection keeps working.

    {"meta": {"encoder_version": "nbmf/1", "encoder_domain", "model_version", "codec",
              "fidelity", "type", "length_bytes"},
     "code": base64(NBMF frame),            (standard alphabet, padded: 2/3 the size of hex)
     "sig":  sha256(json.dumps(decoded value, sort_keys=True, ensure_ascii=False))}

``sig`` means what it meant for the old stub (sha256 of the sorted-key JSON of what decode returns), so
tools that checked old blobs can check these. Which generation a blob is comes from
``meta.encoder_version`` (absent, ``stub`` or ``production_placeholder``: the old stub's format).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from nbmf.errors import FrameError

NBMF_BLOB_VERSION = "nbmf/1"
NBMF_PREFIX = "nbmf/"


def is_nbmf_blob(blob: dict[str, Any]) -> bool:
    """True for a blob nbmf wrote; an unknown ``nbmf/N`` is refused rather than misread as a stub blob."""
    version = blob["meta"].get("encoder_version")
    if not (isinstance(version, str) and version.startswith(NBMF_PREFIX)):
        return False
    if version != NBMF_BLOB_VERSION:
        raise FrameError(f"blob written by a newer nbmf ({version}); this nbmf reads {NBMF_BLOB_VERSION} — upgrade nbmf to decode it")
    return True


def make_blob(frame: bytes, sig: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The blob of ``frame``; ``meta`` adds the descriptive fields (domain, model version, codec, fidelity, type)."""
    code = base64.b64encode(frame).decode("ascii")
    return {"meta": {"encoder_version": NBMF_BLOB_VERSION, **meta, "length_bytes": len(frame)}, "code": code, "sig": sig}


def blob_frame(blob: dict[str, Any], max_frame_bytes: int) -> bytes:
    """The frame an nbmf blob carries (``blob`` already parsed by ``stub_blob.parse_blob``)."""
    code = blob["code"]
    if len(code) > (max_frame_bytes + 2) // 3 * 4:
        raise FrameError(f"blob 'code' is over the {max_frame_bytes}-byte frame limit")
    try:
        return base64.b64decode(code, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FrameError(f"nbmf blob: 'code' is not base64: {exc}") from None
