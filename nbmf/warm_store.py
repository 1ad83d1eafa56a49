"""The memory service's warm store (L2), read and written with nbmf blobs: a drop-in for its store class.

    <root>/records/<key>__<cls>.json      ('/' in key or class -> '_')
        {"payload": <blob or plain JSON value>, "meta": {tenant_id?, fidelity?, compression?, counters…}, "cls": …}
        or, encrypted, {"__encrypted__": {...}} around all of that (nbmf.envelope)

put_record: value --class policy (domain, fidelity)--> nbmf blob (nbmf.memory) --> file (sealed when a key is set)
get_record: file --open--> payload --decode (any generation: old stub, placeholder, nbmf)--> value

Records the service wrote without an encoder hold their plain value and read back as it. Reads update
the access counters as the service's store does, rewriting the file with the *same* blob: an unchanged
payload is never re-encoded (``put_record`` compares signatures and keeps the stored blob).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from nbmf.codec import NBMF
from nbmf.envelope import is_envelope, key_from_env, open_envelope, seal
from nbmf.errors import InputError, StorageError
from nbmf.memory import codec_for, encode_blob
from nbmf.policy import ClassPolicy
from nbmf.storage import Store
from nbmf.stub_blob import old_canonical, signature

RECORDS = "records"


def record_name(key: str, cls: str) -> str:
    """The file name the service gives a record ('/' in key or class replaced by '_')."""
    return f"{key.replace('/', '_')}__{cls.replace('/', '_')}.json"


def split_name(name: str) -> tuple[str, str]:
    """(key, class) of a record file name (as stored: any '/' already replaced)."""
    stem = name[: -len(".json")] if name.endswith(".json") else name
    key, sep, cls = stem.rpartition("__")
    return (key, cls) if sep else (stem, "")


def is_blob(value: Any) -> bool:
    """A stored payload that is a codec blob (old stub or nbmf) rather than a plain value."""
    return (
        isinstance(value, dict)
        and set(value) == {"meta", "code", "sig"}
        and isinstance(value["meta"], dict)
        and isinstance(value["code"], str)
        and ("fidelity" in value["meta"] or "encoder_version" in value["meta"])
    )


def read_record_file(data: bytes, key: bytes | None, where: str) -> dict[str, Any]:
    """A record file's document ``{"payload", "meta", "cls"}``, opening the envelope if it is sealed."""
    try:
        doc = json.loads(data)
        if is_envelope(doc):
            doc = json.loads(open_envelope(doc, key, where))
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: not a record file ({exc})") from None
    if not isinstance(doc, dict) or "payload" not in doc:
        raise InputError(f"{where}: not a warm-store record (no 'payload')")
    if not isinstance(doc.get("meta", {}), dict):
        raise InputError(f"{where}: 'meta' is not an object")
    return doc


class WarmStore:
    """``put_record`` / ``get_record`` / ``get_full_record`` / ``exists`` / ``list_ids`` / ``iter_records``.

    ``root``: local dir or s3://… (the store's root, holding ``records/``). ``registry``: where models
    come from (default ``$NBMF_REGISTRY``; none: the stub codec). ``encrypt``: seal new files (default:
    when ``$DAENA_MEMORY_AES_KEY`` is set). ``track_access``: reads update counters as the service does.
    """

    def __init__(
        self,
        root: str | Store,
        registry: str | None = None,
        policy: ClassPolicy | None = None,
        codec: NBMF | None = None,
        aes_key: bytes | None = None,
        encrypt: bool | None = None,
        track_access: bool = True,
    ) -> None:
        self.store = root if isinstance(root, Store) else Store(root)
        self.records = self.store.child(RECORDS)
        self.codec = codec or codec_for(registry)
        self.policy = policy or ClassPolicy.load()
        self.key = aes_key if aes_key is not None else key_from_env()
        self.encrypt = self.key is not None if encrypt is None else encrypt
        if self.encrypt and self.key is None:
            raise InputError("encrypt=True needs a key: set DAENA_MEMORY_AES_KEY or pass aes_key")
        self.track_access = track_access

    # ---- files --------------------------------------------------------------------------------
    def _read(self, key: str, cls: str) -> dict[str, Any] | None:
        name = record_name(key, cls)
        try:
            data = self.records.read_bytes(name)
        except StorageError:
            if not self.records.exists(name):
                return None
            raise
        return read_record_file(data, self.key, f"{RECORDS}/{name}")

    def _write(self, key: str, cls: str, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.records.write_bytes(record_name(key, cls), seal(data, self.key) if self.encrypt and self.key else data)

    @staticmethod
    def _visible(doc: dict[str, Any], tenant_id: str | None) -> bool:
        """A tenant sees its own records and those without a tenant; no tenant given sees all."""
        owner = doc.get("meta", {}).get("tenant_id")
        return tenant_id is None or owner is None or owner == tenant_id

    def _value(self, doc: dict[str, Any]) -> Any:
        payload = doc["payload"]
        return self.codec.decode(payload) if is_blob(payload) else payload

    # ---- the store's methods ------------------------------------------------------------------
    def put_record(self, key: str, cls: str, payload: Any, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store ``payload`` under (key, class) as an nbmf blob; returns the stored document.

        Fidelity: ``meta["fidelity"]`` if given, else the class policy. An unchanged payload keeps its blob.
        """
        rule = self.policy.rule(cls)
        meta = dict(meta or {})
        fidelity = str(meta.get("fidelity") or rule.fidelity)
        old = self._read(key, cls)
        blob = old["payload"] if old is not None and is_blob(old["payload"]) else None
        if blob is None or not _same_content(blob, payload, fidelity):
            blob = encode_blob(self.codec, payload, fidelity, rule.domain)
        prev_meta = old.get("meta", {}) if old is not None else {}
        meta = {**prev_meta, **meta, "fidelity": fidelity}
        meta["compression"] = {"mode": "nbmf", "encoder_version": blob["meta"].get("encoder_version", "stub"), "domain": rule.domain}
        doc = {"payload": blob, "meta": meta, "cls": cls}
        self._write(key, cls, doc)
        return doc

    def get_full_record(self, key: str, cls: str, tenant_id: str | None = None) -> dict[str, Any] | None:
        """``{"payload": value, "meta", "cls"}``, or None if absent (or another tenant's)."""
        doc = self._read(key, cls)
        if doc is None or not self._visible(doc, tenant_id):
            return None
        value = self._value(doc)
        if self.track_access:
            meta = doc.setdefault("meta", {})
            meta["access_count"] = int(meta.get("access_count", 0) or 0) + 1
            meta["last_accessed"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            self._write(key, cls, doc)  # the same payload (blob) written back: never re-encoded
        return {"payload": value, "meta": doc.get("meta", {}), "cls": doc.get("cls", cls)}

    def get_record(self, key: str, cls: str, tenant_id: str | None = None) -> Any:
        """The value stored under (key, class), or None."""
        full = self.get_full_record(key, cls, tenant_id)
        return None if full is None else full["payload"]

    def exists(self, key: str, cls: str) -> bool:
        return self.records.exists(record_name(key, cls))

    def _keys(self, cls: str | None) -> Iterator[tuple[str, str]]:
        """(key, class) of every record file, of one class if given."""
        for name in self.records.list():
            if name.endswith(".json") and not name.startswith("."):
                key, c = split_name(name)
                if cls is None or c == cls.replace("/", "_"):
                    yield key, c

    def list_ids(self, cls: str | None = None, tenant_id: str | None = None) -> list[str]:
        """Record keys (of one class if given; of one tenant if given: that reads each file)."""
        if tenant_id is None:
            return [key for key, _ in self._keys(cls)]
        return [key for key, _ in self.iter_records(cls, tenant_id, decode=False)]

    def iter_records(
        self, cls: str | None = None, tenant_id: str | None = None, decode: bool = True
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(key, full record) of every record, decoded (``decode=False``: the stored payload); counters untouched."""
        for key, c in self._keys(cls):
            doc = self._read(key, c)
            if doc is None or not self._visible(doc, tenant_id):
                continue
            payload = self._value(doc) if decode else doc["payload"]
            yield key, {"payload": payload, "meta": doc.get("meta", {}), "cls": doc.get("cls", c)}


def _same_content(blob: dict[str, Any], payload: Any, fidelity: str) -> bool:
    """True when ``blob`` already holds ``payload`` at ``fidelity`` (by signature: no decode)."""
    meta = blob.get("meta", {})
    if meta.get("fidelity", "lossless") != fidelity:
        return False
    try:
        want = signature(payload if fidelity == "lossless" else old_canonical(payload))
    except Exception:  # noqa: BLE001 - not a JSON value: re-encode, and let the encoder say why
        return False
    # an old semantic blob cut at 2,048 characters has the signature of its full canonical text, but
    # not its bytes: re-encode it so the full text is kept
    return bool(blob.get("sig", "").lower() == want) and not (
        fidelity == "semantic" and "encoder_version" not in meta and meta.get("preview_length", 0) >= 2048
    )
