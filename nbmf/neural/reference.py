"""The text a model's core is primed with, its reference: which train records, in which order.

The records go in content-hash order (seed-free, and the same whatever order they came in), joined by ``\\0``. Where
they do not all fit in the limit (``ModelConfig.reference_bytes``, 32 MiB), a record is passed over while less than
``novel`` of its sampled 16-byte shingles are new to the reference so far (its text mostly another record's: a form's
boilerplate, a template, a near copy), and the passed-over records fill what room is left, in the same order. The
same bytes then hold more of the domain's distinct text: at a limit of 2 MiB of legal's 4.9 MiB, its held-out
records coded 11.7 % smaller, general (4 of 13.4 MiB) 1.4 %, technical (8 of 25.6 MiB) 1 %; at 16 of 25.6 MiB and on
financial's generated records the same; through a whole build, legal 17 % and general 3.6 % (sixty-second session:
BENCHMARKS.md, "A reference of distinct text"; ``bench/reference_selection.py``, ``bench/reference_novel_build.py``).
Where everything fits, everything goes in, in content-hash order, as before: the repeats are worth their bytes there
(legal's records without them coded 54 % larger).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

NOVEL = 0.8  # ModelConfig.reference_novel's default
SHINGLE = 16  # bytes
_P = np.uint64(0x100000001B3)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def content_order(records: Sequence[bytes]) -> list[bytes]:
    """The records sorted by their content's hash: a seed-free order that does not depend on the order given."""
    return sorted(records, key=lambda r: hashlib.sha256(r).digest())


def shingles(record: bytes) -> set[int]:
    """A content-defined sample (about 1 in 8) of the record's 16-byte shingles, as 64-bit hashes: the same text gives
    the same sample wherever it stands, in any record."""
    n = len(record) - SHINGLE + 1
    if n <= 0:
        return set()
    a = np.frombuffer(record, dtype=np.uint8).astype(np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2^64
        for j in range(SHINGLE):
            h = h * _P + a[j : j + n]
        h ^= h >> np.uint64(29)
        h *= _MIX
        h ^= h >> np.uint64(32)
    return set(h[(h & np.uint64(7)) == 0].tolist())


def select_reference(records: Sequence[bytes], limit: int, novel: float = NOVEL) -> bytes:
    """Train records, joined by ``\\0``, at most ``limit`` bytes: all of them in content-hash order where they fit; else
    the ones whose text is at least ``novel`` new first (0: the first that fit, as every build before the sixty-second
    session chose)."""
    ordered = content_order(records)
    if sum(len(r) + 1 for r in ordered) <= limit or novel <= 0:
        return b"\0".join(fill([], 0, ordered, limit))
    out, size, passed = distinct_first(ordered, limit, novel)
    return b"\0".join(fill(out, size, passed, limit))


def distinct_first(ordered: Sequence[bytes], limit: int, novel: float) -> tuple[list[bytes], int, list[bytes]]:
    """The records taken in order while they fit, each only if at least ``novel`` of its shingles are new to those
    taken before it; their bytes with separators; and the ones passed over."""
    seen: set[int] = set()
    out: list[bytes] = []
    passed: list[bytes] = []
    size = 0
    for r in ordered:
        if size + len(r) + 1 > limit:
            break
        sh = shingles(r)
        if sh and len(sh - seen) < novel * len(sh):
            passed.append(r)
            continue
        out.append(r)
        seen |= sh
        size += len(r) + 1
    return out, size, passed


def fill(out: list[bytes], size: int, more: Sequence[bytes], limit: int) -> list[bytes]:
    """``out`` (``size`` bytes with their separators) and then ``more`` in order, up to the first that does not fit."""
    for r in more:
        if size + len(r) + 1 > limit:
            break
        out.append(r)
        size += len(r) + 1
    return out
