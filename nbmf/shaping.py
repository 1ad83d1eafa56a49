"""Turning input files into records: parse, split long documents, normalise, key for dedupe and split.

Pure functions (no Ray): the collect job maps them over Ray Data blocks.

    file bytes --parse_file--> documents {domain, source, doc_key, text | data}
               --shape_document--> records within [min_bytes, max_bytes]
               --record_row--> {domain, source, doc_key, split, payload_type, text, nbytes, hash, near}
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from nbmf.corpus import split_document
from nbmf.errors import InputError
from nbmf.payload import Fidelity, PayloadType, infer_type, to_bytes
from nbmf.split import split_of

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py", ".c", ".h", ".html", ".xml", ".csv", ".yaml", ".yml", ".toml", ".ini", "")
_NEAR = re.compile(r"[\W\d_]+", re.UNICODE)


def near_key(text: str) -> str:
    """A near-duplicate key: case-folded letters only (digits, punctuation and spacing ignored)."""
    return hashlib.sha256(_NEAR.sub("", unicodedata.normalize("NFKC", text).casefold()).encode()).hexdigest()[:32]


def parse_file(path: str, data: bytes, default_domain: str | None) -> Iterator[dict[str, Any]]:
    """Documents of one input file; a malformed line yields ``{"bad": "<file> line N: why"}``."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(pa.BufferReader(data)).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            yield {"bad": f"{path}: not a readable Parquet file ({exc})"}
            return
        for n, row in enumerate(rows):
            try:
                yield _row_document(row, path, n, default_domain)
            except InputError as exc:
                yield {"bad": f"{path} row {n}: {exc}"}
        return
    if name.endswith((".jsonl", ".ndjson")):
        for n, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                yield _row_document(json.loads(line), path, n, default_domain)
            except (ValueError, UnicodeDecodeError, InputError) as exc:
                yield {"bad": f"{path} line {n}: {exc}"}
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield {"bad": f"{path}: not valid UTF-8 at byte {exc.start}; file skipped"}
        return
    if name.endswith(".json"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            yield {"bad": f"{path}: not valid JSON ({exc})"}
            return
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            try:
                if isinstance(item, dict) and ("text" in item or "data" in item):
                    yield _row_document(item, path, i + 1, default_domain)
                else:
                    yield _document(default_domain, path, f"{path}#{i}", None, item, f"{path}#{i}")
            except InputError as exc:
                yield {"bad": f"{path} item {i}: {exc}"}
        return
    try:
        yield _document(default_domain, path, path, text, None, path)  # a text file is one document
    except InputError as exc:
        yield {"bad": str(exc)}


def _document(domain: str | None, source: str, doc_key: str, text: str | None, data: Any, uid: str) -> dict[str, Any]:
    """``doc_key`` decides the split (records of one document stay together); ``uid`` names the input row."""
    if not domain:
        raise InputError(f"{uid}: record has no 'domain' and no --domain was given")
    data_json = None if text is not None else json.dumps(data)
    return {"domain": str(domain), "source": source, "doc_key": doc_key, "uid": uid, "text": text, "data": data_json}


def _row_document(row: Any, path: str, n: int, default_domain: str | None) -> dict[str, Any]:
    where = f"{path} line {n}"
    if not isinstance(row, dict):
        raise InputError(f"expected a JSON object, got {type(row).__name__}")
    domain = row.get("domain") or default_domain
    meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    source = str(row.get("source") or (meta or {}).get("source") or path)
    doc_key = str(row.get("source") or (meta or {}).get("source") or row.get("id") or f"{path}:{n}")
    if isinstance(row.get("text"), str):
        return _document(domain, source, doc_key, row["text"], None, where)
    if "data" in row:
        data = row["data"]
        if isinstance(data, str) and row.get("type") not in ("json",):
            return _document(domain, source, doc_key, data, None, where)
        return _document(domain, source, doc_key, None, data, where)
    raise InputError("record has neither 'text' (a string) nor 'data'")


def shape_document(
    doc: dict[str, Any], min_bytes: int, max_bytes: int, seed: int, val: float, test: float, near: bool = False
) -> Iterator[dict[str, Any]]:
    """Records of a document: text split on paragraph boundaries, JSON values kept whole."""
    split = split_of(doc["doc_key"], seed, val, test)
    if doc.get("text") is not None:
        text = unicodedata.normalize("NFC", doc["text"]).replace("\r\n", "\n")
        # min 0 here: pieces under the bound are dropped (and counted) by the job, never silently
        pieces: list[str] = [text] if len(text.encode()) <= max_bytes else list(split_document(text, 0, max_bytes))
        for pos, piece in enumerate(pieces):
            yield _record(doc, split, PayloadType.STR, piece, piece.encode("utf-8", "surrogatepass"), pos, near)
    else:
        value = json.loads(doc["data"])
        raw = to_bytes(value, infer_type(value), Fidelity.LOSSLESS)
        yield _record(doc, split, infer_type(value), raw.decode("utf-8", "surrogatepass"), raw, 0, near)


def _record(doc: dict[str, Any], split: str, ptype: PayloadType, text: str, raw: bytes, pos: int, near: bool) -> dict[str, Any]:
    return {
        "rid": f"{doc['uid']}@{pos}",  # input row + position inside it: unique per record
        "domain": doc["domain"],
        "source": doc["source"],
        "doc_key": doc["doc_key"],
        "split": split,
        "payload_type": ptype.name.lower(),
        "text": text,  # str records as is; JSON records as their lossless JSON text
        "nbytes": len(raw),
        "hash": hashlib.sha256(raw).hexdigest()[:32],
        "near": near_key(text) if near else "",  # only computed when near-dedupe is on
    }
