"""Measuring codecs on the same records: one room for ``nbmf bench``, ``nbmf validate`` and the pipeline.

    records --each Contender (encode, decode)--> Result (typed): total ratio, per-record p5/p50/p95,
    ms per record and per KB (median, p95), MB/s, byte-exact round trips

A result is looked up by its ``Role`` (what the codec is), never by its display name.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import zstandard as zstd
from pydantic import BaseModel, Field

Encode = Callable[[bytes], bytes]
Decode = Callable[[bytes, int], bytes]


class Role(StrEnum):
    """What a measured codec is: the key results are found by."""

    STUB = "stub"  # zlib-9: what the memory service's stub codec stores
    ZSTD = "zstd"  # zstd-19, no dictionary
    ZSTD_DICT = "zstd_dict"  # zstd-19 with the domain's 112 KiB dictionary
    NBMF = "nbmf"  # nbmf best-of with a domain model (bench)
    CANDIDATE = "candidate"  # the version a validation measures
    PRODUCTION = "production"  # the domain's production version, when another one is validated
    NEURAL_ONLY = "neural_only"  # ablation: the neural codec alone (frame header counted)
    MIX_WITHOUT_NEURAL = "mix_without_neural"  # ablation: the same primed mix without the trained model
    PREDICTOR_ONLY = "predictor_only"  # ablation: the trained model alone, nothing primed
    PPMD = "ppmd"  # PPMd order 12 primed on the model's reference text (size only)


@dataclass(frozen=True)
class Contender:
    role: Role
    name: str  # for people: tables, plots
    encode: Encode
    decode: Decode | None  # None: size only (e.g. a primed PPMd stream measured by difference)


class Result(BaseModel):
    role: Role
    name: str
    records: int
    original_bytes: int
    coded_bytes: int
    total_ratio: float
    bits_per_byte: float
    ratio_p5: float
    ratio_p50: float
    ratio_p95: float
    encode_mb_s: float
    decode_mb_s: float | None
    encode_ms_p50: float
    encode_ms_p95: float
    decode_ms_p50: float | None
    decode_ms_p95: float | None
    exact: float | None = Field(description="fraction of byte-exact round trips; None: size only")
    encode_ms_per_kb_p50: float = 0.0  # time / (record bytes / 1024): "per 1 KB record"
    encode_ms_per_kb_p95: float = 0.0
    decode_ms_per_kb_p50: float | None = None
    decode_ms_per_kb_p95: float | None = None
    timing_rounds: int = Field(1, description="times each record was coded (rounds over all records); the fields above: the first")
    # with timing_rounds > 1, each record's best time of the rounds: the codec's own cost, without the machine's stalls
    encode_ms_per_kb_best_p50: float | None = None
    encode_ms_per_kb_best_p95: float | None = None
    decode_ms_per_kb_best_p50: float | None = None
    decode_ms_per_kb_best_p95: float | None = None


class MissingResult(KeyError):
    """No result of this role was measured."""


def find(results: Iterable[Result], role: Role) -> Result:
    """The result measured for ``role`` (one per role in a report)."""
    for r in results:
        if r.role == role:
            return r
    raise MissingResult(f"no {role.value} result was measured")


def find_optional(results: Iterable[Result], role: Role) -> Result | None:
    try:
        return find(results, role)
    except MissingResult:
        return None


def percentile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def measure(c: Contender, data: Sequence[bytes], rounds: int = 1) -> Result:
    """Code every record with ``c`` (and decode it back when it can): sizes, times, exactness.

    ``rounds`` > 1 (for a codec that decodes): code all the records again, round after round, and also report each
    record's best time of the rounds (``*_best_*``). On a shared or virtual machine a single timing carries whatever
    else the machine did then (a neighbour's burst, a slower spell: twice as slow for minutes on the machines measured
    in BENCHMARKS.md); the best of a few is what the codec itself costs. Every round must give the same bytes and
    decode them exactly, or the record counts as not exact."""
    if not data:
        raise ValueError(f"nothing to measure {c.name} on")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    rounds = rounds if c.decode is not None else 1
    first: list[bytes] = []
    enc_t: list[list[float]] = [[] for _ in data]
    dec_t: list[list[float]] = [[] for _ in data]
    ok = [True] * len(data)
    for r in range(rounds):
        for i, d in enumerate(data):
            t0 = time.perf_counter()
            coded = c.encode(d)
            enc_t[i].append(time.perf_counter() - t0)
            if r == 0:
                first.append(coded)
            elif coded != first[i]:
                ok[i] = False
            if c.decode is not None:
                t0 = time.perf_counter()
                back = c.decode(coded, len(d))
                dec_t[i].append(time.perf_counter() - t0)
                ok[i] = ok[i] and back == d
    sizes = [len(b) for b in first]
    orig = sum(len(d) for d in data)
    coded_total = sum(sizes)
    ratios = [len(d) / max(1, s) for d, s in zip(data, sizes)]
    has_dec = c.decode is not None
    first_enc = [t[0] for t in enc_t]
    first_dec = [t[0] for t in dec_t if t]

    def per_kb(ts: Sequence[float]) -> list[float]:
        return [1e3 * t * 1024 / max(1, len(d)) for t, d in zip(ts, data)]

    enc_kb, dec_kb = per_kb(first_enc), per_kb(first_dec)
    best: dict[str, float | None] = {}
    if rounds > 1:
        enc_best, dec_best = per_kb([min(t) for t in enc_t]), per_kb([min(t) for t in dec_t])
        best = {
            "encode_ms_per_kb_best_p50": percentile(enc_best, 0.5),
            "encode_ms_per_kb_best_p95": percentile(enc_best, 0.95),
            "decode_ms_per_kb_best_p50": percentile(dec_best, 0.5),
            "decode_ms_per_kb_best_p95": percentile(dec_best, 0.95),
        }
    return Result(
        role=c.role,
        name=c.name,
        records=len(data),
        original_bytes=orig,
        coded_bytes=coded_total,
        total_ratio=orig / max(1, coded_total),
        bits_per_byte=8 * coded_total / max(1, orig),
        ratio_p5=percentile(ratios, 0.05),
        ratio_p50=percentile(ratios, 0.5),
        ratio_p95=percentile(ratios, 0.95),
        encode_mb_s=orig / max(1e-9, sum(first_enc)) / 1e6,
        decode_mb_s=orig / max(1e-9, sum(first_dec)) / 1e6 if has_dec else None,
        encode_ms_p50=1e3 * percentile(first_enc, 0.5),
        encode_ms_p95=1e3 * percentile(first_enc, 0.95),
        decode_ms_p50=1e3 * percentile(first_dec, 0.5) if has_dec else None,
        decode_ms_p95=1e3 * percentile(first_dec, 0.95) if has_dec else None,
        exact=sum(ok) / len(data) if has_dec else None,
        encode_ms_per_kb_p50=percentile(enc_kb, 0.5),
        encode_ms_per_kb_p95=percentile(enc_kb, 0.95),
        decode_ms_per_kb_p50=percentile(dec_kb, 0.5) if has_dec else None,
        decode_ms_per_kb_p95=percentile(dec_kb, 0.95) if has_dec else None,
        timing_rounds=rounds,
        **best,
    )


def decode_latencies_ms(c: Contender, data: Sequence[bytes], limit: int = 500, repeats: int = 1) -> list[float]:
    """Sorted decode times of the first ``limit`` records (for a latency CDF and the decode gate).

    Each record's time is the best of ``repeats`` decodes: the model's own cost, without a one-off stall of
    the machine (another process's burst, a collection) that a single timing of a 4 KB record carries. The
    repeats are rounds over all the records, as in ``measure``, not one record's decodes back to back: a
    decode right after the same record's finds the model's tables for it in the cache, which a server
    decoding one record of many does not.
    """
    if c.decode is None:
        return []
    records = list(data[:limit])
    coded = [c.encode(d) for d in records]
    best = [float("inf")] * len(records)
    for _ in range(max(1, repeats)):
        for i, (d, b) in enumerate(zip(records, coded)):
            t0 = time.perf_counter()
            c.decode(b, len(d))
            best[i] = min(best[i], time.perf_counter() - t0)
    return sorted(1e3 * t for t in best)


def baselines(dictionary: bytes) -> list[Contender]:
    """The classical codecs every model is measured against: the stub's zlib-9, zstd-19, zstd-19 + dictionary."""
    from nbmf.codecs.zstd_dict import ZstdDictCodec

    zc = zstd.ZstdCompressor(level=19)
    zd = zstd.ZstdDecompressor()
    dc = ZstdDictCodec(dictionary)
    return [
        Contender(Role.STUB, "stub (zlib-9)", lambda d: zlib.compress(d, 9), lambda b, n: zlib.decompress(b)),
        Contender(Role.ZSTD, "zstd-19", zc.compress, lambda b, n: zd.decompress(b)),
        Contender(Role.ZSTD_DICT, "zstd-19 + dict", dc.compress, dc.decompress),
    ]


def ppmd_primed(reference: bytes, order: int = 12, mem_mb: int = 512) -> Contender | None:
    """PPMd (order ``order``) primed on the domain reference: what coding the record adds to it.

    PPMd's state cannot be copied, so the primed encoder lives in a process that forks once per
    record (copy-on-write): each record is coded from the same primed state, as nbmf does.
    None where pyppmd is not installed.
    """
    try:
        import pyppmd
    except ImportError:
        return None

    enc = pyppmd.Ppmd7Encoder(order, mem_mb << 20)
    primed = len(enc.encode(reference))
    probe = pyppmd.Ppmd7Encoder(order, mem_mb << 20)
    base = len(probe.encode(reference)) + len(probe.flush())  # the prime alone, flushed
    del probe

    def encode(d: bytes) -> bytes:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: code the record from the primed state, report the size, exit
            os.close(r)
            n = primed + len(enc.encode(d)) + len(enc.flush())
            os.write(w, n.to_bytes(8, "little"))
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        os.waitpid(pid, 0)
        return bytes(max(1, n - base))

    return Contender(Role.PPMD, f"PPMd o{order} primed", encode, None)


def legacy_role(name: str) -> Role | None:
    """The role of a result saved by display name (reports written before roles existed)."""
    known = {
        "stub (zlib)": Role.STUB,
        "zlib-9 (stub)": Role.STUB,
        "zstd-19": Role.ZSTD,
        "zstd-19+dict": Role.ZSTD_DICT,
        "nbmf neural codec only": Role.NEURAL_ONLY,
        "mix without neural": Role.MIX_WITHOUT_NEURAL,
        "neural predictor alone": Role.PREDICTOR_ONLY,
    }
    if name in known:
        return known[name]
    for prefix, role in (("candidate ", Role.CANDIDATE), ("production ", Role.PRODUCTION), ("nbmf ", Role.NBMF), ("ppmd", Role.PPMD)):
        if name.startswith(prefix):
            return role
    return None


def legacy_results(by_name: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``{name: result}`` (the old report shape) as a list of results with roles."""
    out = []
    for name, r in by_name.items():
        role = legacy_role(name)
        if role is not None:
            out.append({k: v for k, v in r.items() if k != "extra"} | {"name": name, "role": role.value})
    return out
