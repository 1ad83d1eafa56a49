"""Which train records a model's reference holds (``nbmf.neural.reference``)."""

from __future__ import annotations

import hashlib
import random

from nbmf.neural.reference import content_order, select_reference, shingles


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
    assert select_reference(records, whole) == b"\0".join(ordered)  # the near copies too: they fit
    assert select_reference(list(reversed(records)), whole) == b"\0".join(ordered)
    assert content_order(records) == ordered
    # novel 0: the first that fit, in that order (every build before the sixty-second session)
    assert select_reference(records, whole - 1, novel=0) == b"\0".join(ordered[:-1])


def test_where_they_do_not_fit_near_copies_wait_for_distinct_text() -> None:
    rng = random.Random(3)
    distinct = [_text(rng, 500) for _ in range(20)]
    base = _text(rng, 500)
    family = [base] + [_near_copy(rng, base) for _ in range(19)]
    records = distinct + family
    first = next(r for r in content_order(records) if r in family)
    limit = sum(len(r) + 1 for r in [*distinct, first])
    got = select_reference(records, limit).split(b"\0")
    assert set(got) == {*distinct, first}  # one of the family, then every distinct record
    assert select_reference(list(reversed(records)), limit) == b"\0".join(got)
    plain = select_reference(records, limit, novel=0).split(b"\0")
    assert sum(r in family for r in plain) > 5  # a random cut takes about half of them
    # room left after the distinct text: the passed-over ones fill it, in content-hash order
    roomy = select_reference(records, limit + 3 * 501).split(b"\0")
    assert set(got) < set(roomy) and sum(r in family for r in roomy) == 4
    assert roomy[: len(got)] == got
