"""Re-encoding one warm-store record file with nbmf, verified before it is written (the migration job's unit).

    file bytes --open envelope (if sealed)--> {"payload", "meta", "cls"}
      payload: a blob of any generation --decode--> value (what its old decoder returned)
               or a plain value (stored without an encoder)
      --encode with the production model of the class's domain (old fidelity kept; a plain value lossless)-->
      new blob --decode again, compare with value (equal, same JSON types)--> new file bytes (sealed again)
    anything that fails: the original bytes, unchanged, and the reason (nothing is ever dropped)

An old semantic blob re-encodes as the text its old decoder returned (verbatim); one the old stub cut
at 2,048 characters keeps ``truncated`` in its meta — the cut part was never stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nbmf.codec import NBMF
from nbmf.envelope import is_envelope, open_envelope, seal
from nbmf.errors import NBMFError
from nbmf.memory import encode_blob
from nbmf.payload import Fidelity
from nbmf.policy import ClassPolicy
from nbmf.warm_store import is_blob, split_name


@dataclass
class Migrated:
    name: str
    status: str  # migrated | undecodable | unverified (the last two: copied unchanged)
    data: bytes  # the file to write: the new one, or the original bytes
    cls: str = ""
    domain: str = ""
    generation: str = ""  # what the record held: stub | nbmf/1 | plain | ?
    version: int | None = None  # model version of the new blob (None: the stub codec coded it)
    codec: str = ""
    blob_bytes_before: int = 0  # the payload (blob or plain value) as JSON
    blob_bytes_after: int = 0
    file_bytes_before: int = 0
    error: str | None = None


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same JSON types all the way down (1 != 1.0 != True; key order aside)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return bool(a == b) or (isinstance(a, float) and a != a and b != b)


def _json_len(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def migrate_record(name: str, data: bytes, codec: NBMF, policy: ClassPolicy, key: bytes | None) -> Migrated:
    """One record file re-encoded (see the module doc); never raises for bad input."""
    out = Migrated(name=name, status="undecodable", data=data, file_bytes_before=len(data))
    try:
        doc = json.loads(data)
        sealed = is_envelope(doc)
        if sealed:
            doc = json.loads(open_envelope(doc, key, name))
        if not isinstance(doc, dict) or "payload" not in doc:
            raise NBMFError("not a warm-store record (no 'payload')")
        cls = str(doc["cls"]) if isinstance(doc.get("cls"), str) else split_name(name)[1]
        out.cls, out.domain = cls, policy.domain_of(cls)
        payload = doc["payload"]
        out.blob_bytes_before = _json_len(payload)
        extra: dict[str, Any] = {}
        if is_blob(payload):
            old_meta = payload["meta"]
            out.generation = old_meta.get("encoder_version") or "stub"
            d = codec.decode_record(payload)
            value, fidelity = d.value, d.fidelity
            if d.fidelity is Fidelity.SEMANTIC:
                extra["type"] = old_meta.get("type")
                if d.truncated:
                    extra["truncated"] = True
            extra["migrated_from"] = out.generation
        else:
            out.generation, value, fidelity = "plain", payload, Fidelity.LOSSLESS
        verbatim = fidelity is Fidelity.SEMANTIC
        blob = encode_blob(codec, value, fidelity.name.lower(), out.domain, verbatim=verbatim, extra_meta=extra)
        back = codec.decode_record(blob)
        if not same_value(back.value, value):
            out.status, out.error = "unverified", "the new blob does not decode to the old value; kept the old one"
            return out
        old_doc_meta: dict[str, Any] = doc["meta"] if isinstance(doc.get("meta"), dict) else {}
        meta = {**old_doc_meta, "compression": {"mode": "nbmf", "encoder_version": blob["meta"]["encoder_version"], "domain": out.domain}}
        plain = json.dumps({**doc, "payload": blob, "meta": meta}, ensure_ascii=False).encode("utf-8")
        assert key is not None or not sealed
        out.data = seal(plain, key) if sealed and key is not None else plain
        out.status, out.version, out.codec = "migrated", blob["meta"]["model_version"], blob["meta"]["codec"]
        out.blob_bytes_after = _json_len(blob)
        return out
    except RecursionError:
        out.error = "JSON nested too deeply"
    except (NBMFError, ValueError, UnicodeDecodeError, TypeError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"[:500]
    out.data = data
    return out
