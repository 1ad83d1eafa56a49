import random

import pyarrow as pa
import pytest

from nbmf.selection import KEY_COLUMNS, select_records
from nbmf.shaping import RECORD_SCHEMA


def _keys(seed: int, n: int = 600) -> list[dict]:
    """Key rows with exact duplicates (shared hash), near duplicates (shared near key), rows out of
    bounds and malformed-input rows, shuffled."""
    rnd = random.Random(seed)
    rows: list[dict] = []
    for i in range(n):
        h = rnd.randrange(n // 3)  # about three rows per hash
        domain = rnd.choice(["legal", "technical", "financial"])
        rows.append(
            {
                "domain": domain,
                "split": rnd.choice(["train", "val", "test"]),
                "nbytes": rnd.choice([50, 300, 900, 5000]),
                "hash": f"h{h:05d}",
                "near": f"n{h // 2:05d}",
                "doc_key": f"doc{rnd.randrange(40)}",
                "rid": f"f{rnd.randrange(3)} line {i}@0",
                "rank": rnd.randrange(2**64),
                "bad": None,
            }
        )
    rows += [{"bad": f"in/x.jsonl line {k}: not JSON"} for k in range(7)]
    rnd.shuffle(rows)
    return rows


def _reference(rows: list[dict], lo: int, hi: int, cap: int, near: bool) -> tuple[set[str], int, int, int]:
    good = [r for r in rows if r.get("bad") is None]
    bounded = [r for r in good if lo <= r["nbytes"] <= hi]
    best: dict[tuple[str, str], dict] = {}
    for r in bounded:
        k = (r["domain"], r["near" if near else "hash"])
        if k not in best or (r["doc_key"], r["rid"]) < (best[k]["doc_key"], best[k]["rid"]):
            best[k] = r
    kept: set[str] = set()
    for d in {r["domain"] for r in best.values()}:
        ranked = sorted((r for r in best.values() if r["domain"] == d), key=lambda r: (r["rank"], r["hash"]))
        kept |= {r["rid"] for r in ranked[:cap]}
    return kept, len(good), len(bounded), len(best)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("near", [False, True])
@pytest.mark.parametrize("cap", [5, 10_000])
def test_selection_matches_a_plain_reference(seed: int, near: bool, cap: int) -> None:
    rows = _keys(seed)
    keys = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA).select(KEY_COLUMNS)
    sel = select_records(keys, 200, 4096, cap, near)
    kept, n_in, n_bounded, n_unique = _reference(rows, 200, 4096, cap, near)
    assert set(sel.kept.column("rid").to_pylist()) == kept
    assert (sel.records_in, sel.in_bounds, sel.unique) == (n_in, n_bounded, n_unique)
    assert sorted(sel.bad.to_pylist()) == sorted(r["bad"] for r in rows if r.get("bad"))
    assert sel.kept.num_rows == len(kept)


def test_the_same_records_stay_whatever_the_input_order() -> None:
    rows = _keys(3)
    picks = []
    for order in range(3):
        random.Random(order).shuffle(rows)
        keys = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA).select(KEY_COLUMNS)
        picks.append(sorted(select_records(keys, 200, 4096, 20).kept.column("rid").to_pylist()))
    assert picks[0] == picks[1] == picks[2]


def test_nothing_in() -> None:
    sel = select_records(RECORD_SCHEMA.empty_table().select(KEY_COLUMNS), 200, 4096, 10)
    assert sel.kept.num_rows == 0 and sel.records_in == sel.unique == 0 and len(sel.bad) == 0
