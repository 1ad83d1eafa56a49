"""Turning input files into records: parse, split long documents, normalise, key for dedupe and split.

Pure functions (no Ray): the collect job maps them over Ray Data blocks.

    file bytes --parse_file--> documents {domain, source, doc_key, text | data}
               --shape_document--> records within [min_bytes, max_bytes]
    shape_file: the two above as one Arrow table of RECORD_COLUMNS. JSONL and Parquet files of text
    records take a vectorised Arrow path (parsed by pyarrow, normalised and measured column-wise);
    anything that path does not cover exactly (JSON values, malformed lines, odd types) takes the
    row path, which reports every bad line with its location. Both give the same rows.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from nbmf.corpus import split_document
from nbmf.envelope import is_envelope
from nbmf.errors import InputError
from nbmf.payload import Fidelity, PayloadType, infer_type, to_bytes
from nbmf.policy import ClassPolicy
from nbmf.records import EXPORT_SOURCE_KINDS, document_key
from nbmf.registry import DOMAIN_RE
from nbmf.split import split_of

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py", ".c", ".h", ".html", ".xml", ".csv", ".yaml", ".yml", ".toml", ".ini", "")
_NEAR = re.compile(r"[\W\d_]+", re.UNICODE)


def near_key(text: str) -> str:
    """A near-duplicate key: case-folded letters only (digits, punctuation and spacing ignored)."""
    return hashlib.sha256(_NEAR.sub("", unicodedata.normalize("NFKC", text).casefold()).encode()).hexdigest()[:32]


def parse_file(
    path: str, data: bytes, default_domain: str | None, policy: ClassPolicy | None = None, aes_key: bytes | None = None
) -> Iterator[dict[str, Any]]:
    """Documents of one input file; a malformed line yields ``{"bad": "<file> line N: why"}``.

    A warm-store record file (``records/<key>__<cls>.json``, sealed or not) is one document keyed by its
    record key, its domain given by its class through ``policy``; its blob is decoded as the old decoder did.
    """
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
        if is_envelope(value) or (isinstance(value, dict) and "payload" in value and "cls" in value):
            yield from _warm_record(path, data, policy, aes_key)  # a memory-service warm-store record file
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


def _warm_record(path: str, data: bytes, policy: ClassPolicy | None, aes_key: bytes | None) -> Iterator[dict[str, Any]]:
    from nbmf.codec import NBMF
    from nbmf.errors import NBMFError
    from nbmf.warm_store import is_blob, read_record_file, split_name

    try:
        doc = read_record_file(data, aes_key, path)
        key, file_cls = split_name(path.rsplit("/", 1)[-1])
        cls = doc.get("cls") if isinstance(doc.get("cls"), str) else file_cls
        payload = doc["payload"]
        value = NBMF().decode(payload) if is_blob(payload) else payload
        domain = (policy or ClassPolicy()).domain_of(cls)
        if isinstance(value, str):
            yield _document(domain, path, key, value, None, path)
        else:
            yield _document(domain, path, key, None, value, path)
    except NBMFError as exc:  # InputError, a blob that does not decode, an envelope without its key
        yield {"bad": f"{path}: {exc}"}


def _document(domain: str | None, source: str, doc_key: str, text: str | None, data: Any, uid: str) -> dict[str, Any]:
    """``doc_key`` decides the split (records of one document stay together); ``uid`` names the input row."""
    if not domain:
        raise InputError(f"{uid}: record has no 'domain' and no --domain was given")
    if not isinstance(domain, str) or not DOMAIN_RE.match(domain):
        raise InputError(f"{uid}: domain {domain!r} is not a valid name (lowercase letters, digits, '-' and '_'); record skipped")
    data_json = None if text is not None else json.dumps(data)
    return {"domain": str(domain), "source": source, "doc_key": doc_key, "uid": uid, "text": text, "data": data_json}


def _row_document(row: Any, path: str, n: int, default_domain: str | None) -> dict[str, Any]:
    where = f"{path} line {n}"
    if not isinstance(row, dict):
        raise InputError(f"expected a JSON object, got {type(row).__name__}")
    domain = row.get("domain") or default_domain
    meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    source = str(row.get("source") or (meta or {}).get("source") or path)
    doc_key = str(document_key(row, f"{path}:{n}"))
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
        "hash": xxhash.xxh3_128_hexdigest(raw),
        "near": near_key(text) if near else "",  # only computed when near-dedupe is on
    }


RECORD_COLUMNS = ("domain", "source", "doc_key", "rid", "split", "payload_type", "text", "nbytes", "hash", "near", "rank", "bad")
RECORD_SCHEMA = pa.schema([(c, pa.int64() if c == "nbytes" else pa.uint64() if c == "rank" else pa.string()) for c in RECORD_COLUMNS])


def rank_of(hash_hex: str, seed: int) -> int:
    """The seeded rank that per-domain caps keep the lowest of: stable across runs and machines."""
    return xxhash.xxh3_64_intdigest(f"{seed}:{hash_hex}".encode())


def shape_file(
    path: str, data: bytes, default_domain: str | None, min_bytes: int, max_bytes: int, seed: int, val: float, test: float,
    near: bool = False, vectorised: bool = True, policy: ClassPolicy | None = None, aes_key: bytes | None = None,
) -> pa.Table:  # fmt: skip
    """Every record of one input file (and a row per malformed input, ``bad`` set) as RECORD_SCHEMA.

    ``vectorised=False`` forces the row path (tests check that both paths give the same rows).
    """
    args = (min_bytes, max_bytes, seed, val, test, near)
    table = _read_table(path, data) if vectorised else None
    if table is not None:
        fast = _shape_arrow(table, path, data, default_domain, *args)
        if fast is not None:
            return fast
    rows: list[dict[str, Any]] = []
    for doc in parse_file(path, data, default_domain, policy, aes_key):
        if "bad" in doc:
            rows.append({"bad": doc["bad"]})
        else:
            rows += [dict(r, bad=None, rank=rank_of(r["hash"], seed)) for r in shape_document(doc, *args)]
    return pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)


def _read_table(path: str, data: bytes) -> pa.Table | None:
    name = path.rsplit("/", 1)[-1].lower()
    try:
        if name.endswith((".jsonl", ".ndjson")):
            import pyarrow.json as pj

            opts = pj.ReadOptions(block_size=max(1 << 20, len(data) + 1))  # one block: no object straddles two
            table = pj.read_json(pa.BufferReader(data), read_options=opts)
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq

            table = pq.read_table(pa.BufferReader(data))
        else:
            return None
        table.validate(full=True)  # invalid UTF-8 in a string fails here
        if any(pa.types.is_large_string(f.type) for f in table.schema):  # Parquet from pandas/polars: large_string
            table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]))
        return table
    except Exception:  # noqa: BLE001 - anything pyarrow cannot read goes the row path, which names the bad line
        return None


class _NotCovered(Exception):
    """The vectorised path does not decide this file; the row path does."""


def _string_col(table: pa.Table, name: str, ints: bool = False) -> pa.ChunkedArray | None:
    """A column as strings with falsy values ("" and, for ids, 0) as null; None if absent."""
    if name not in table.column_names:
        return None
    col = table.column(name)
    if pa.types.is_integer(col.type) and ints:
        col = pc.if_else(pc.equal(col, 0), pa.scalar(None, col.type), col).cast(pa.string())
    elif pa.types.is_null(col.type):
        return None
    elif not pa.types.is_string(col.type):
        raise _NotCovered(f"column {name!r} is {col.type}")
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)


def _line_numbers(path: str, data: bytes, rows: int) -> Any:
    """The 1-based line (JSONL) or 0-based row (Parquet) of each row, as the row path names them."""
    if not path.lower().endswith((".jsonl", ".ndjson")):
        return np.arange(rows)
    if b"\r" not in data and data.count(b"\n") + (not data.endswith(b"\n")) == rows:
        return np.arange(1, rows + 1)  # no blank lines: line k is row k (bytes.splitlines cuts at \n and \r only)
    numbers = [n for n, line in enumerate(data.splitlines(), 1) if line.strip()]
    return np.array(numbers) if len(numbers) == rows else None


def _prefixed(prefix: str, numbers: Any, suffix: str = "") -> pa.Array:
    """``f"{prefix}{k}{suffix}"`` for each k of ``numbers``, column-wise."""
    return pc.binary_join_element_wise(pa.scalar(prefix), pa.array(numbers).cast(pa.string()), pa.scalar(suffix), "")


def _utf8_hashes(text: pa.Array) -> list[str]:
    """xxh3-128 of each string's UTF-8 bytes, read in place from the Arrow buffers (no nulls)."""
    if not len(text):
        return []
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1].tolist()
    data = text.buffers()[2]
    view = memoryview(data) if data is not None else memoryview(b"")
    digest = xxhash.xxh3_128_hexdigest
    return [digest(view[a:b]) for a, b in zip(offsets, offsets[1:])]


def _shape_arrow(
    table: pa.Table, path: str, data: bytes, default_domain: str | None, min_bytes: int, max_bytes: int, seed: int, val: float,
    test: float, near: bool,
) -> pa.Table | None:  # fmt: skip
    """The vectorised path; None where the row path must decide (it then reports what is wrong)."""
    names = table.column_names
    n = table.num_rows
    if n == 0:
        return None
    text = table.column("text") if "text" in names else None
    if text is not None:
        if not pa.types.is_string(text.type) or text.null_count:
            return None  # null or non-string texts: the row path looks at 'data' or reports the row
    elif "data" in names and pa.types.is_string(table.column("data").type) and not table.column("data").null_count:
        kinds = table.column("type") if "type" in names else None
        if kinds is not None and (not pa.types.is_string(kinds.type) or pc.any(pc.equal(kinds, "json")).as_py()):
            return None  # typed JSON values are encoded by the row path
        text = table.column("data")
    else:
        return None
    try:
        domain = _string_col(table, "domain")
        source = _string_col(table, "source")
        ident = _string_col(table, "id", ints=True)
    except _NotCovered:
        return None
    meta_fields: dict[str, Any] = {"item_id": None, "file": None, "source": None}
    if "metadata" in names and pa.types.is_struct(table.column("metadata").type):
        mtype = table.column("metadata").type
        for field in meta_fields:
            if mtype.get_field_index(field) < 0:
                continue
            if not pa.types.is_string(mtype.field(field).type):
                return None
            col = pc.struct_field(table.column("metadata"), field)
            meta_fields[field] = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    meta_source = meta_fields["source"]
    if domain is None:
        if not default_domain:
            return None
        domain = pa.chunked_array([pa.array([default_domain] * n, pa.string())])
    elif default_domain:
        domain = pc.coalesce(domain, pa.scalar(default_domain))
    if domain.null_count or not pc.all(pc.match_substring_regex(domain, DOMAIN_RE.pattern)).as_py():
        return None  # the row path names each record without a (valid) domain
    numbers = _line_numbers(path, data, n)
    if numbers is None:
        return None
    fallback_key = _prefixed(f"{path}:", numbers)
    named = [c for c in (source, meta_source) if c is not None]
    source_out = pc.coalesce(*named, pa.scalar(path)) if named else pa.array([path] * n, pa.string())
    # the order of records.document_key: source, item_id, file, metadata.source unless an exporter's kind, id
    keyed = meta_source
    if keyed is not None:
        keyed = pc.if_else(pc.is_in(keyed, value_set=pa.array(sorted(EXPORT_SOURCE_KINDS))), pa.scalar(None, pa.string()), keyed)
    key_cols = [c for c in (source, meta_fields["item_id"], meta_fields["file"], keyed, ident) if c is not None]
    doc_key = pc.coalesce(*key_cols, fallback_key)

    # normalise: NFC (ASCII rows already are; others via Python, as the row path does), CRLF -> LF
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    other = pc.invert(pc.string_is_ascii(text))
    if pc.any(other).as_py():
        nfc = [unicodedata.normalize("NFC", t) for t in pc.filter(text, other).to_pylist()]
        text = pc.replace_with_mask(text, other, pa.array(nfc, pa.string()))
    texts_arr = pc.replace_substring(text, "\r\n", "\n")
    nbytes = pc.binary_length(texts_arr)
    keys = pc.unique(doc_key)
    splits = (keys, pa.array([split_of(k, seed, val, test) for k in keys.to_pylist()], pa.string()))
    line = _prefixed(f"{path} line ", numbers, "@0")
    whole = pc.less_equal(nbytes, max_bytes)
    short = [pc.filter(c, whole) for c in (domain, source_out, doc_key, line, texts_arr)]
    parts = [_records(short[0], short[1], short[2], short[3], short[4], splits, seed, near)]
    long_rows = pc.indices_nonzero(pc.invert(whole)).to_pylist()
    if long_rows:  # documents over the bound are cut at paragraph boundaries, in Python
        rows, rids, pieces = [], [], []
        for i in long_rows:
            for pos, piece in enumerate(split_document(texts_arr[i].as_py(), 0, max_bytes)):
                rows.append(i)
                rids.append(f"{path} line {numbers[i]}@{pos}")
                pieces.append(piece)
        take = pa.array(rows, pa.int64())
        rid_arr, piece_arr = pa.array(rids, pa.string()), pa.array(pieces, pa.string())
        parts.append(_records(domain.take(take), source_out.take(take), doc_key.take(take), rid_arr, piece_arr, splits, seed, near))
    return pa.concat_tables(parts)


def _records(
    domain: Any, source: Any, doc_key: Any, rid: Any, text: Any, splits: tuple[pa.Array, pa.Array], seed: int, near: bool
) -> pa.Table:
    """RECORD_SCHEMA rows of str records from their columns (hash, rank and split computed here).

    ``splits`` is (document keys, their splits). The bytes hashed are the Arrow UTF-8 of each text:
    what ``str.encode("utf-8")`` gives, as in the row path.
    """
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    hashes = _utf8_hashes(text)
    m = len(text)
    keys, key_splits = splits
    cols = {
        "domain": domain,
        "source": source,
        "doc_key": doc_key,
        "rid": rid,
        "split": pc.take(key_splits, pc.index_in(doc_key, value_set=keys)),
        "payload_type": pa.array(["str"] * m, pa.string()),
        "text": text,
        "nbytes": pc.binary_length(text).cast(pa.int64()),
        "hash": pa.array(hashes, pa.string()),
        "near": pa.array([near_key(t) for t in text.to_pylist()] if near else [""] * m, pa.string()),
        "rank": pa.array([rank_of(h, seed) for h in hashes], pa.uint64()),
        "bad": pa.nulls(m, pa.string()),
    }
    return pa.table({c: _chunk(v) for c, v in cols.items()}, schema=RECORD_SCHEMA)


def _chunk(v: Any) -> pa.ChunkedArray:
    return v if isinstance(v, pa.ChunkedArray) else pa.chunked_array([v])
