"""Which train records a model's reference holds (``nbmf.neural.reference``)."""

from __future__ import annotations

import hashlib
import random

from nbmf.config import ModelConfig
from nbmf.neural.reference import content_order, covering_first, select_reference, shingles


def _text(rng: random.Random, n: int) -> bytes:
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(n // 5)]
    return " ".join(words).encode()[:n]


def _near_copy(rng: random.Random, text: bytes) -> bytes:
    b = bytearray(text)
    for _ in range(3):  # three bytes changed: most of its shingles are the original's
        b[rng.randrange(len(b))] = ord("#")
    return bytes(b)


def test_the_same_text_gives_the_same_sample_wherever_it_stands() -> None:
    t = _text(random.Random(1), 2000)
    assert len(shingles(t)) > 100  # about 1 in 8 of its shingles
    assert shingles(t) <= shingles(b"some other text first. " + t + b" and after")
    assert not shingles(b"short")


def test_everything_that_fits_goes_in_in_content_hash_order() -> None:
    rng = random.Random(2)
    base = _text(rng, 800)
    records = [base] + [_near_copy(rng, base) for _ in range(5)] + [_text(rng, 600) for _ in range(10)]
    ordered = sorted(records, key=lambda r: hashlib.sha256(r).digest())
    whole = sum(len(r) + 1 for r in records)
    for select in ("cover", "novel"):
        assert select_reference(records, whole, select=select) == b"\0".join(ordered)  # the near copies too: they fit
        assert select_reference(list(reversed(records)), whole, select=select) == b"\0".join(ordered)
    assert content_order(records) == ordered
    # novel 0: the first that fit, in that order (every build before the sixty-second session)
    assert select_reference(records, whole - 1, novel=0, select="novel") == b"\0".join(ordered[:-1])


def _family_and_distinct(seed: int) -> tuple[list[bytes], list[bytes]]:
    """20 records of distinct text and 20 near copies of one text (a template)."""
    rng = random.Random(seed)
    distinct = [_text(rng, 500) for _ in range(20)]
    base = _text(rng, 500)
    return distinct, [base] + [_near_copy(rng, base) for _ in range(19)]


def test_where_they_do_not_fit_the_reference_covers_the_common_text_once_then_the_rest() -> None:
    distinct, family = _family_and_distinct(3)
    records = distinct + family
    limit = sum(len(r) + 1 for r in distinct) + 501
    got = select_reference(records, limit).split(b"\0")
    assert got[-1] in family  # the text twenty records hold is chosen first, and stands last, nearest the records coded...
    assert set(got[:-1]) == set(distinct)  # ...once: the distinct text before it, not its copies
    assert got == covering_first(content_order(records), limit)[::-1]
    assert select_reference(list(reversed(records)), limit) == b"\0".join(got)  # whatever order they came in
    roomy = select_reference(records, limit + 3 * 501).split(b"\0")  # room left: copies, each worth what it adds
    assert roomy[3:] == got and len(roomy) == len(got) + 3 and set(roomy[:3]) <= set(family)
    plain = select_reference(records, limit, novel=0, select="novel").split(b"\0")
    assert sum(r in family for r in plain) > 5  # a random cut takes about half of them


def test_covering_counts_how_many_records_hold_a_text_and_fills_the_room() -> None:
    rng = random.Random(4)
    common = _text(rng, 400)
    x = common + _text(rng, 100)  # text five more records hold, and a little of its own
    y = _text(rng, 500)  # its own text only
    bigs = [common + _text(rng, 2000) for _ in range(5)]  # too big for the room, but they count
    ordered = content_order([x, y, *bigs])
    assert covering_first(ordered, 502) == [x]
    assert covering_first(ordered, 502, worth=lambda keys, counts: (counts == 1).astype(int)) == [y]  # text seen once only
    # a record that does not fit is left out; smaller ones after it still go in
    big, small = _text(rng, 2000), _text(rng, 100)
    assert covering_first(content_order([big, small]), 1000) == [small]
    assert select_reference([big, small], 1000) == small


def test_a_config_that_sets_reference_novel_keeps_meaning_it() -> None:
    assert ModelConfig().reference_select == "cover"
    assert ModelConfig(reference_novel=0).reference_select == "novel"  # written before reference_select existed
    assert ModelConfig.model_validate({"reference_novel": 0.8}).reference_select == "novel"  # an older manifest's config
    assert ModelConfig(reference_novel=0.5, reference_select="cover").reference_select == "cover"
    assert ModelConfig.model_validate(ModelConfig().model_dump()).reference_select == "cover"  # this version's own


def test_where_they_do_not_fit_near_copies_wait_for_distinct_text() -> None:
    rng = random.Random(3)
    distinct = [_text(rng, 500) for _ in range(20)]
    base = _text(rng, 500)
    family = [base] + [_near_copy(rng, base) for _ in range(19)]
    records = distinct + family
    first = next(r for r in content_order(records) if r in family)
    limit = sum(len(r) + 1 for r in [*distinct, first])
    got = select_reference(records, limit, select="novel").split(b"\0")
    assert set(got) == {*distinct, first}  # one of the family, then every distinct record
    assert select_reference(list(reversed(records)), limit, select="novel") == b"\0".join(got)
    # room left after the distinct text: the passed-over ones fill it, in content-hash order
    roomy = select_reference(records, limit + 3 * 501, select="novel").split(b"\0")
    assert set(got) < set(roomy) and sum(r in family for r in roomy) == 4
    assert roomy[: len(got)] == got
