"""A built-in corpus for all four domains, from what every fresh Linux machine with Python has.

    technical  <- Python's standard library sources (*.py)
    legal      <- /usr/share/common-licenses/* and /usr/share/doc/*/copyright
    general    <- Python's own documentation prose (pydoc topics) and the README / NEWS / *.md / *.txt
                  files under /usr/share/doc (plain text, not the licenses)
    financial  <- JSON records from a seeded generator (``nbmf.synthetic_financial``): accounts with
                  their transactions, invoices, trades, snapshots, earnings and budget notes
Documents are cut into records on blank-line boundaries within [min_bytes, max_bytes]; every record
keeps its source document, so train/test splits can be made by document. What is not a file on the
machine (pydoc topics, the generated records) is written once under ``<cache>/corpus/`` (see
``nbmf.storage.cache_home``), deterministically, so every node that reads it gets the same bytes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nbmf.errors import InputError
from nbmf.storage import cache_home

DEFAULT_MIN, DEFAULT_MAX = 200, 4096
DOMAINS = ("financial", "general", "legal", "technical")
DOC_NAMES = re.compile(r"^(readme|news|faq|changes|changelog|history|usage|notes|todo|thanks|authors)([._-].*)?$", re.I)
FINANCIAL_FILES = 20  # the generated accounts, spread over this many JSONL files


def _materialized_root() -> Path:
    from nbmf.synthetic_financial import VERSION

    return Path(cache_home()) / "corpus" / f"v{VERSION}"


def _write_general(d: Path) -> None:
    try:
        from pydoc_data.topics import topics
    except ImportError:  # a Python built without its docs: the general domain keeps /usr/share/doc only
        return
    for name in sorted(topics):
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        (d / f"pydoc-{safe}.txt").write_text(topics[name], encoding="utf-8")


def _write_financial(d: Path) -> None:
    from nbmf.synthetic_financial import accounts

    files = [open(d / f"accounts-{i:02d}.jsonl", "w", encoding="utf-8") for i in range(FINANCIAL_FILES)]
    try:
        for k, (doc, recs) in enumerate(accounts()):
            f = files[k % FINANCIAL_FILES]
            for rec in recs:
                row = {"domain": "financial", "source": f"synthetic/{doc}", "data": json.loads(rec)}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        for f in files:
            f.close()


def _materialize(domain: str) -> list[str]:
    """The files written for ``domain`` (built once per node, atomically: a directory renamed into place)."""
    root = _materialized_root()
    d = root / domain
    if not d.is_dir():
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{domain}-"))
        except OSError as exc:
            raise InputError(
                f"cannot write the built-in {domain} corpus under {root} ({exc}); set XDG_CACHE_HOME to a writable directory"
            ) from None
        try:
            (_write_general if domain == "general" else _write_financial)(tmp)
            os.rename(tmp, d)
        except OSError:
            if not d.is_dir():  # not another process winning the race: a real failure
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return sorted(str(p) for p in d.iterdir() if p.is_file())


def rebuild_if_builtin(path: str) -> bool:
    """Write the built-in corpus file ``path`` if it is one that is made, not found (a node that has not
    made it yet); True when ``path`` exists afterwards."""
    root = str(_materialized_root()) + os.sep
    if path.startswith(root):
        domain = path[len(root) :].split(os.sep, 1)[0]
        if domain in ("general", "financial"):
            _materialize(domain)
    return os.path.isfile(path)


def _sources(domains: set[str] | None = None) -> dict[str, list[str]]:
    """Source files per domain (``domains``: only these; what is made is made only when asked for)."""
    want = set(DOMAINS) if domains is None else set(domains) & set(DOMAINS)
    out: dict[str, list[str]] = {}
    if "technical" in want:
        stdlib = sysconfig.get_paths()["stdlib"]
        out["technical"] = sorted(p for p in glob.glob(os.path.join(stdlib, "**", "*.py"), recursive=True) if "site-packages" not in p)
    if "legal" in want:
        legal = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright"))
        out["legal"] = [p for p in legal if os.path.isfile(p)]
    if "general" in want:
        docs = sorted(
            p
            for p in glob.glob("/usr/share/doc/**/*", recursive=True)
            if (DOC_NAMES.match(os.path.basename(p)) or p.endswith((".md", ".txt"))) and not p.endswith(".gz") and os.path.isfile(p)
        )
        out["general"] = _materialize("general") + docs
    if "financial" in want:
        out["financial"] = _materialize("financial")
    return out


def split_document(text: str, min_bytes: int = DEFAULT_MIN, max_bytes: int = DEFAULT_MAX) -> Iterator[str]:
    """Cut a document into records at paragraph boundaries; oversize paragraphs at line boundaries."""
    pieces: list[str] = []
    for para in text.split("\n\n"):
        if len(para.encode()) <= max_bytes:
            pieces.append(para)
            continue
        line_buf = ""
        for line in para.split("\n"):
            if line_buf and len((line_buf + "\n" + line).encode()) > max_bytes:
                pieces.append(line_buf)
                line_buf = ""
            line_buf = line if not line_buf else line_buf + "\n" + line
        if line_buf:
            pieces.append(line_buf)
    buf = ""
    for piece in pieces:
        candidate = piece if not buf else buf + "\n\n" + piece
        if len(candidate.encode()) > max_bytes and buf:
            if len(buf.encode()) >= min_bytes:
                yield buf
            buf = piece
        else:
            buf = candidate
        if len(buf.encode()) >= min_bytes and len(buf.encode()) > max_bytes // 2:
            yield buf
            buf = ""
    if len(buf.encode()) >= min_bytes and len(buf.encode()) <= max_bytes:
        yield buf


def _documents(path: str) -> Iterator[tuple[str, str]]:
    """``(source, text)`` of one corpus file: a text file is one document, a JSONL line one JSON record."""
    try:
        data = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return  # binary or non-UTF-8 files are not records
    if not path.endswith(".jsonl"):
        yield path, data
        return
    for line in data.splitlines():
        row = json.loads(line)
        yield row["source"], json.dumps(row["data"], ensure_ascii=False, separators=(",", ":"))


def local_records(
    domain: str, limit: int | None = None, min_bytes: int = DEFAULT_MIN, max_bytes: int = DEFAULT_MAX
) -> Iterator[dict[str, str]]:
    """Records ``{"id", "domain", "source", "text"}`` of a built-in domain, deduplicated; a JSON record
    (``"type": "json"``) has its compact serialization as ``text``: the bytes the codec codes."""
    seen: set[bytes] = set()
    count = 0
    for path in _sources({domain}).get(domain, []):
        jsonl = path.endswith(".jsonl")
        for n, (source, text) in enumerate(_documents(path)):
            pieces = [text] if jsonl else split_document(text, min_bytes, max_bytes)
            for i, rec in enumerate(pieces):
                if not min_bytes <= len(rec.encode()) <= max_bytes:
                    continue
                key = hashlib.sha256(rec.encode()).digest()[:16]
                if key in seen:
                    continue
                seen.add(key)
                row = {"id": f"{path}#{n}" if jsonl else f"{path}#{i}", "domain": domain, "source": source, "text": rec}
                yield row | {"type": "json"} if jsonl else row
                count += 1
                if limit is not None and count >= limit:
                    return


def available_domains() -> dict[str, int]:
    """How many source documents each built-in domain has on this machine."""
    return {d: len(p) for d, p in _sources().items()}


def write_jsonl(domain: str, out: str, limit: int | None = None) -> int:
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for rec in local_records(domain, limit):
            if rec.pop("type", None) == "json":  # written as a JSON value, so collect keeps it one
                rec["data"] = json.loads(rec.pop("text"))
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n
