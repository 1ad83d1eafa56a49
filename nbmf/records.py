"""Reading input records: JSONL or Parquet rows with ``text`` (str) or ``data`` (any JSON value).

Also accepts the memory-service export shape ``{"id", "domain", "type", "data", "metadata"}``.
Malformed lines raise ``InputError`` naming the file and line (or are skipped and counted).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nbmf.errors import InputError
from nbmf.payload import PayloadType, infer_type
from nbmf.storage import Store


@dataclass(frozen=True)
class Record:
    value: Any
    payload_type: PayloadType
    id: str | None = None
    domain: str | None = None
    source: str | None = None  # the document a record came from (what splits are keyed by): document_key()


# The old memory-service exporter writes the same metadata.source on every record ("memory_service",
# or "file" for files): a kind of source, not a document. Keying splits by it put every record in one
# split (issue #13); its metadata.item_id (or metadata.file) names the document.
EXPORT_SOURCE_KINDS = frozenset({"memory_service", "file"})


def document_key(row: dict[str, Any], fallback: str | None) -> str | None:
    """The document a record belongs to (records of one document stay in one split); the one place this is decided.

    First non-empty of: ``source``, ``metadata.item_id``, ``metadata.file``, ``metadata.source`` (unless it
    is an exporter's constant kind), ``id``; else ``fallback`` (the input file and line, say).
    """
    meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    meta_source = meta.get("source")
    if meta_source in EXPORT_SOURCE_KINDS:
        meta_source = None
    for value in (row.get("source"), meta.get("item_id"), meta.get("file"), meta_source, row.get("id")):
        if value not in (None, "", 0):
            return str(value)
    return fallback


def record_key(record: Record) -> str:
    """A record's document key, or (a record that names none) one of its own from its value."""
    return record.source or hashlib.sha256(repr(record.value).encode()).hexdigest()


def record_from_row(row: dict[str, Any], where: str) -> Record:
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if isinstance(row.get("text"), str):
        value: Any = row["text"]
    elif "data" in row:
        value = row["data"]
    else:
        raise InputError(f"{where}: record has neither 'text' (a string) nor 'data'")
    source = document_key(row, None)
    return Record(
        value=value,
        payload_type=infer_type(value),
        id=None if row.get("id") is None else str(row["id"]),
        domain=row.get("domain"),
        source=None if source is None else str(source),
    )


def read_records(uri: str, skip_bad: bool = False, bad: list[str] | None = None) -> Iterator[Record]:
    """Records of a ``.jsonl`` / ``.json`` (one object per line) or ``.parquet`` file, local or S3."""
    if uri == "-":
        import sys

        lines: Iterator[bytes] = iter(sys.stdin.buffer.read().splitlines())
        yield from _jsonl(lines, "<stdin>", skip_bad, bad)
        return
    parent, _, name = uri.rstrip("/").rpartition("/")
    store = Store(parent or ".")
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(store.full(name), filesystem=store.filesystem)
        for i, row in enumerate(table.to_pylist()):
            try:
                yield record_from_row(row, f"{uri} row {i}")
            except InputError as exc:
                if not skip_bad:
                    raise
                if bad is not None:
                    bad.append(str(exc))
        return
    yield from _jsonl(iter(store.read_bytes(name).splitlines()), uri, skip_bad, bad)


def _jsonl(lines: Iterator[bytes], where: str, skip_bad: bool, bad: list[str] | None) -> Iterator[Record]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            try:
                row = json.loads(line)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(f"{where} line {n}: not valid JSON ({exc})") from None
            yield record_from_row(row, f"{where} line {n}")
        except InputError as exc:
            if not skip_bad:
                raise
            if bad is not None:
                bad.append(str(exc))
