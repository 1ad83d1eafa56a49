"""The text a model's core is primed with, its reference: which train records, in which order.

The records go in content-hash order (seed-free, and the same whatever order they came in), joined by ``\\0``. Where
they do not all fit in the limit (``ModelConfig.reference_bytes``, 32 MiB), the reference covers the most of the train
split's text it can (``select="cover"``, the default since the sixty-third session): each record is worth, per byte, the
sum over its sampled 16-byte shingles that the reference does not hold yet of how many train records hold that shingle,
and the record worth most goes in next (greedy, as zstd's COVER dictionary trainer picks segments), until the limit. A
template or a form's clause that many records share is chosen once, first; its near copies are then worth only what
they add; text that occurs once still counts. The reference holds them in the reverse order, the commonest text last:
the core ends its priming on the most typical text (held-out records 0.45-1.4 % smaller than in the order chosen, on
all four domains: sixty-fourth session). With the core alone at 2 MiB of legal's 4.9 MiB its held-out
records coded 8.6 % smaller than with the sixty-second session's choice (1 MiB: 30 %), technical (8 of 25.6 MiB)
2.3 %, general (2 of 13.4 MiB) 2.1 %; general at 4 MiB, technical at 16 MiB and financial (2 of 3.5 MiB) within 0.4 %;
a whole legal build at 2 MiB 9.6 % smaller (BENCHMARKS.md, "A reference that covers the train split";
``bench/reference_selection.py``; those figures in the order chosen).
``select="novel"``, the sixty-second session's choice: in content-hash order, a
record is passed over while less than ``novel`` of its shingles are new to the reference so far, and the passed-over
records fill the room left (``novel`` 0: the first records that fit, as builds before it chose).
Where everything fits, everything goes in, in content-hash order, either way: the repeats are worth their bytes there
(legal's records without them coded 54 % larger).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Sequence

import numpy as np

NOVEL = 0.8  # ModelConfig.reference_novel's default
SELECT = "cover"  # ModelConfig.reference_select's default
SHINGLE = 16  # bytes
_P = np.uint64(0x100000001B3)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def content_order(records: Sequence[bytes]) -> list[bytes]:
    """The records sorted by their content's hash: a seed-free order that does not depend on the order given."""
    return sorted(records, key=lambda r: hashlib.sha256(r).digest())


def shingles(record: bytes) -> set[int]:
    """A content-defined sample (about 1 in 8) of the record's 16-byte shingles, as 64-bit hashes: the same text gives
    the same sample wherever it stands, in any record."""
    return set(shingle_array(record).tolist())


def shingle_array(record: bytes) -> np.ndarray:
    """``shingles`` as a sorted array of distinct uint64."""
    n = len(record) - SHINGLE + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    a = np.frombuffer(record, dtype=np.uint8).astype(np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2^64
        for j in range(SHINGLE):
            h = h * _P + a[j : j + n]
        h ^= h >> np.uint64(29)
        h *= _MIX
        h ^= h >> np.uint64(32)
    return np.unique(h[(h & np.uint64(7)) == 0])


def select_reference(records: Sequence[bytes], limit: int, novel: float = NOVEL, select: str = SELECT) -> bytes:
    """Train records, joined by ``\\0``, at most ``limit`` bytes: all of them in content-hash order where they fit; else
    (``select``) the ones that cover the most of the split's text (``cover``; the commonest last), or the ones whose text is at least
    ``novel`` new first (``novel``; with ``novel`` 0 the first that fit, as every build before the sixty-second session
    chose)."""
    if select not in ("cover", "novel"):
        raise ValueError(f"unknown reference selection {select!r}: 'cover' or 'novel'")
    ordered = content_order(records)
    if sum(len(r) + 1 for r in ordered) <= limit or (select == "novel" and novel <= 0):
        return b"\0".join(fill([], 0, ordered, limit))
    if select == "cover":  # the commonest text last, nearest the records coded (held-out records 0.45-1.4 % smaller)
        return b"\0".join(reversed(covering_first(ordered, limit)))
    out, size, passed = distinct_first(ordered, limit, novel)
    return b"\0".join(fill(out, size, passed, limit))


def covering_first(
    ordered: Sequence[bytes], limit: int, worth: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
) -> list[bytes]:
    """The records, most worth per byte first, while they fit (one that does not is left out, smaller ones after it
    still go in). A record's worth: the sum, over its sampled shingles the records taken before it do not hold, of the
    shingle's weight; ``worth(keys, counts)`` gives each distinct shingle's (an integer), by default ``counts``, how
    many of the records hold it. Lazy greedy: a record's worth only falls as others go in, so one whose worth, counted
    again, is still the highest goes in. Ties go to the earlier record in ``ordered``; every sum is an integer, so the
    choice is the same on every machine."""
    n = len(ordered)
    arrays = [shingle_array(r) for r in ordered]
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(a) for a in arrays], out=starts[1:])
    every = np.concatenate(arrays) if n else np.zeros(0, np.uint64)
    arrays.clear()  # (the memory: 8 bytes per sampled shingle, about one per 8 bytes of records, held once)
    keys, inv, counts = np.unique(every, return_inverse=True, return_counts=True)
    del every
    inv = inv.astype(np.int32 if len(keys) < 2**31 else np.int64)
    weight = (counts if worth is None else worth(keys, counts)).astype(np.int64)
    del keys, counts
    sums = np.concatenate(([0], np.cumsum(weight[inv])))  # integers: each record's worth is a difference of two
    total = sums[starts[1:]] - sums[starts[:-1]]
    del sums
    heap = [(-int(total[i]) / (len(ordered[i]) + 1), i) for i in range(n)]
    heapq.heapify(heap)
    covered = np.zeros(len(weight), dtype=bool)
    out: list[bytes] = []
    size = 0
    while heap:
        _, i = heapq.heappop(heap)
        r = ordered[i]
        if size + len(r) + 1 > limit:
            continue  # it will not fit later either
        ids = inv[starts[i] : starts[i + 1]]
        now = int(weight[ids[~covered[ids]]].sum()) / (len(r) + 1)
        if heap and now < -heap[0][0]:
            heapq.heappush(heap, (-now, i))  # worth less than it was: another may be worth more now
            continue
        out.append(r)
        covered[ids] = True
        size += len(r) + 1
    return out


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
