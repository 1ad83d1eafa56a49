"""measurement.measure: sizes, exactness and times, once or over several rounds."""

from __future__ import annotations

import zlib

import pytest

from nbmf.measurement import Contender, Role, decode_latencies_ms, measure

RECORDS = [(f"record {i}: " + "the licensee shall keep this notice intact. " * (1 + i % 9)).encode() for i in range(40)]
ZLIB = Contender(Role.STUB, "zlib", lambda d: zlib.compress(d, 9), lambda b, n: zlib.decompress(b))


def test_one_round_times_each_record_once() -> None:
    r = measure(ZLIB, RECORDS)
    assert r.timing_rounds == 1 and r.exact == 1.0
    assert r.coded_bytes == sum(len(zlib.compress(d, 9)) for d in RECORDS)
    assert r.decode_ms_per_kb_best_p95 is None and r.encode_ms_per_kb_best_p95 is None


def test_rounds_report_each_records_best_time() -> None:
    once = measure(ZLIB, RECORDS)
    r = measure(ZLIB, RECORDS, rounds=3)
    assert r.timing_rounds == 3 and r.exact == 1.0
    assert (r.coded_bytes, r.total_ratio) == (once.coded_bytes, once.total_ratio)  # sizes from the first round
    # each record's best is at most its first timing, so every percentile of the bests is at most the first's
    assert r.encode_ms_per_kb_best_p95 is not None and r.decode_ms_per_kb_best_p95 is not None
    assert r.encode_ms_per_kb_best_p95 <= r.encode_ms_per_kb_p95
    assert r.decode_ms_per_kb_best_p95 <= r.decode_ms_per_kb_p95  # type: ignore[operator]
    assert r.encode_ms_per_kb_best_p50 <= r.encode_ms_per_kb_p50  # type: ignore[operator]


def test_a_record_wrong_in_a_later_round_is_not_exact() -> None:
    calls: dict[bytes, int] = {}

    def decode(b: bytes, n: int) -> bytes:  # right the first time, wrong the second for one record
        d = zlib.decompress(b)
        calls[d] = calls.get(d, 0) + 1
        return d[:-1] if d == RECORDS[5] and calls[d] == 2 else d

    c = Contender(Role.STUB, "flaky", lambda d: zlib.compress(d, 9), decode)
    assert measure(c, RECORDS).exact == 1.0
    calls.clear()
    assert measure(c, RECORDS, rounds=2).exact == (len(RECORDS) - 1) / len(RECORDS)


def test_a_codec_that_only_sizes_is_coded_once() -> None:
    n = 0

    def encode(d: bytes) -> bytes:
        nonlocal n
        n += 1
        return zlib.compress(d)

    r = measure(Contender(Role.PPMD, "size only", encode, None), RECORDS, rounds=3)
    assert (r.timing_rounds, r.exact, n) == (1, None, len(RECORDS))


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        measure(ZLIB, RECORDS, rounds=0)
    with pytest.raises(ValueError, match="nothing to measure"):
        measure(ZLIB, [])


def test_decode_latencies_take_rounds_over_the_records() -> None:
    """Each record's best of the repeats, the repeats in rounds over all records (a record's decode does not follow
    its own, whose tables would still be in the cache)."""
    order: list[bytes] = []

    def decode(b: bytes, n: int) -> bytes:
        order.append(zlib.decompress(b))
        return order[-1]

    c = Contender(Role.CANDIDATE, "logged", lambda d: zlib.compress(d), decode)
    lat = decode_latencies_ms(c, RECORDS, limit=10, repeats=3)
    assert len(lat) == 10 and lat == sorted(lat)
    assert order == RECORDS[:10] * 3


def test_a_record_coded_differently_in_a_later_round_is_not_exact() -> None:
    seen: set[bytes] = set()

    def encode(d: bytes) -> bytes:  # the same size, other bytes, the second time for one record
        again = d in seen
        seen.add(d)
        return zlib.compress(d[::-1] if again and d == RECORDS[3] else d, 9)

    def decode(b: bytes, n: int) -> bytes:
        d = zlib.decompress(b)
        return d if d in RECORDS else d[::-1]  # decodes both ways: only the changed bytes tell

    assert measure(Contender(Role.STUB, "unstable", encode, decode), RECORDS, rounds=2).exact == (len(RECORDS) - 1) / len(RECORDS)
