"""A built-in corpus of real text that every fresh Linux machine with Python has.

    technical  <- Python's standard library sources (*.py)
    legal      <- /usr/share/common-licenses/* and /usr/share/doc/*/copyright
Documents are cut into records on blank-line boundaries within [min_bytes, max_bytes]; every record
keeps its source document, so train/test splits can be made by document.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path

DEFAULT_MIN, DEFAULT_MAX = 200, 4096


def _sources() -> dict[str, list[str]]:
    stdlib = sysconfig.get_paths()["stdlib"]
    technical = sorted(p for p in glob.glob(os.path.join(stdlib, "**", "*.py"), recursive=True) if "site-packages" not in p)
    legal = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright"))
    return {"technical": technical, "legal": [p for p in legal if os.path.isfile(p)]}


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


def local_records(
    domain: str, limit: int | None = None, min_bytes: int = DEFAULT_MIN, max_bytes: int = DEFAULT_MAX
) -> Iterator[dict[str, str]]:
    """Records ``{"id", "domain", "source", "text"}`` of a built-in domain, deduplicated."""
    seen: set[bytes] = set()
    count = 0
    for path in _sources().get(domain, []):
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary or non-UTF-8 files are not records
        for i, rec in enumerate(split_document(text, min_bytes, max_bytes)):
            key = hashlib.sha256(rec.encode()).digest()[:16]
            if key in seen:
                continue
            seen.add(key)
            yield {"id": f"{path}#{i}", "domain": domain, "source": path, "text": rec}
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
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n
