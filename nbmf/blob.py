"""Memory-service blobs written by nbmf: an NBMF frame in the stub's JSON shape, so version detection keeps working.

    {"meta": {"encoder_version": "nbmf/1", "encoder_domain", "model_version", "codec",
              "fidelity", "type", "length_bytes"},
     "code": hex(NBMF frame),
     "sig":  sha256(json.dumps(decoded value, sort_keys=True, ensure_ascii=False))}

``sig`` means what it meant for the old stub (sha256 of the sorted-key JSON of what decode returns), so
tools that checked old blobs can check these. Which generation a blob is comes from
``meta.encoder_version`` (absent, ``stub`` or ``production_placeholder``: the old stub's format).
"""

from __future__ import annotations

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
    return {"meta": {"encoder_version": NBMF_BLOB_VERSION, **meta, "length_bytes": len(frame)}, "code": frame.hex(), "sig": sig}


def blob_frame(blob: dict[str, Any], max_frame_bytes: int) -> bytes:
    """The frame an nbmf blob carries (``blob`` already parsed by ``stub_blob.parse_blob``)."""
    code = blob["code"]
    if len(code) > 2 * max_frame_bytes:
        raise FrameError(f"blob 'code' is over the {max_frame_bytes}-byte frame limit")
    try:
        return bytes.fromhex(code)
    except ValueError as exc:
        raise FrameError(f"nbmf blob: 'code' is not hex: {exc}") from None
