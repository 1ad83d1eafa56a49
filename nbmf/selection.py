"""Which shaped records a collect run keeps: size bounds, dedupe, per-domain caps (Arrow, no Ray).

The collect job projects every record's KEY_COLUMNS (of nbmf.shaping's RECORD_SCHEMA) to the
driver and calls ``select_records``; the records themselves stay where they were shaped.

    keys --bad rows out--> [min_bytes, max_bytes] --dedupe--> cap per domain --> kept keys

- dedupe: per (domain, hash) (or per (domain, near) with near-dedupe), the record of the smallest
  (doc_key, rid) stays: the same record on every run, whatever the order of the input files.
- cap: per domain, the ``cap`` records of the lowest seeded (rank, hash) stay.
Both orders are total (rid is unique; after dedupe a domain holds each hash once), so the kept set
does not depend on sort stability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KEY_COLUMNS = ["domain", "split", "nbytes", "hash", "near", "doc_key", "rid", "rank", "bad"]  # what selection reads
KEPT_COLUMNS = ["domain", "split", "nbytes", "rid"]


@dataclass(frozen=True)
class Selection:
    kept: pa.Table  # KEPT_COLUMNS of the kept records, in input order
    bad: pa.Array  # the 'bad' messages of malformed inputs, in input order
    records_in: int  # well-formed records
    in_bounds: int  # ... of them within [min_bytes, max_bytes]
    unique: int  # ... of those left after dedupe


def select_records(keys: pa.Table, min_bytes: int, max_bytes: int, cap: int, near: bool = False) -> Selection:
    """Works on row numbers and the few columns each step needs: no full-table filter or copy."""
    n = keys.num_rows
    bad_mask = pc.is_valid(keys.column("bad"))
    bad = keys.column("bad").filter(bad_mask).combine_chunks()
    nbytes = keys.column("nbytes")
    bounded = pc.and_(pc.greater_equal(nbytes, min_bytes), pc.less_equal(nbytes, max_bytes))
    valid = pc.fill_null(pc.and_(pc.invert(bad_mask), bounded), False)
    in_bounds = pc.sum(valid).as_py() or 0
    # dedupe: rank every row by (doc_key, rid); per (domain, key) the lowest-ranked valid row stays.
    # Invalid rows get rank n and stay out (an invalid row shares its key only with rows that are
    # invalid too, except with near-dedupe, where the group's valid rows still rank lower)
    order = pc.sort_indices(keys.select(["doc_key", "rid"]), sort_keys=[("doc_key", "ascending"), ("rid", "ascending")])
    position = np.empty(n, dtype=np.int64)
    position[order.to_numpy()] = np.arange(n, dtype=np.int64)
    position[~valid.to_numpy(zero_copy_only=False)] = n
    key = "near" if near else "hash"
    groups = keys.select(["domain", key]).append_column("_position", pa.array(position))
    firsts = groups.group_by(["domain", key]).aggregate([("_position", "min")]).column("_position_min")
    rows = pc.take(order, pc.filter(firsts, pc.less(firsts, n)))  # row numbers of the records that stay
    # cap: per domain the lowest (rank, hash)
    ranked = keys.select(["domain", "rank", "hash"]).take(rows).append_column("_row", rows)
    ranked = ranked.take(pc.sort_indices(ranked, sort_keys=[("domain", "ascending"), ("rank", "ascending"), ("hash", "ascending")]))
    domains = ranked.column("domain")
    keep = np.zeros(n, dtype=bool)
    for d in pc.unique(domains).to_pylist():
        keep[ranked.column("_row").filter(pc.equal(domains, d)).slice(0, cap).to_numpy()] = True
    kept = keys.select(KEPT_COLUMNS).filter(pa.array(keep))  # in input order: a random-order take of strings is slow
    return Selection(kept=kept, bad=bad, records_in=n - len(bad), in_bounds=in_bounds, unique=len(rows))
