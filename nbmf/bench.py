"""``nbmf bench``: every codec on the same held-out records, headers included.

records --split by source document--> train (dictionary, priming) | test (measured)
per codec: total ratio = sum(original) / sum(coded), per-record p5/p50/p95 ratio,
           encode/decode MB/s and ms per record (median, p95), byte-exact round trips
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import zstandard as zstd

from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.codecs.zstd_dict import ZstdDictCodec, train_dictionary
from nbmf.frame import CodecId, ModelRef
from nbmf.payload import Fidelity, to_bytes
from nbmf.records import Record, record_key
from nbmf.registry import Registry
from nbmf.split import split_of

Encode = Callable[[bytes], bytes]
Decode = Callable[[bytes, int], bytes]


@dataclass
class Contender:
    name: str
    encode: Encode
    decode: Decode | None  # None: size-only (e.g. a primed PPMd stream measured by difference)


@dataclass
class Result:
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
    exact: float | None  # fraction of byte-exact round trips
    encode_ms_per_kb_p50: float = 0.0  # time / (record bytes / 1024): "per 1 KB record"
    encode_ms_per_kb_p95: float = 0.0
    decode_ms_per_kb_p50: float | None = None
    decode_ms_per_kb_p95: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _pct(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def measure(c: Contender, data: Sequence[bytes]) -> Result:
    sizes, enc_t, dec_t, exact = [], [], [], 0
    for d in data:
        t0 = time.perf_counter()
        coded = c.encode(d)
        enc_t.append(time.perf_counter() - t0)
        sizes.append(len(coded))
        if c.decode is not None:
            t0 = time.perf_counter()
            back = c.decode(coded, len(d))
            dec_t.append(time.perf_counter() - t0)
            exact += back == d
    orig = sum(len(d) for d in data)
    coded_total = sum(sizes)
    ratios = [len(d) / max(1, s) for d, s in zip(data, sizes)]
    has_dec = c.decode is not None
    enc_kb = [1e3 * t * 1024 / max(1, len(d)) for t, d in zip(enc_t, data)]
    dec_kb = [1e3 * t * 1024 / max(1, len(d)) for t, d in zip(dec_t, data)]
    return Result(
        name=c.name,
        records=len(data),
        original_bytes=orig,
        coded_bytes=coded_total,
        total_ratio=orig / max(1, coded_total),
        bits_per_byte=8 * coded_total / max(1, orig),
        ratio_p5=_pct(ratios, 0.05),
        ratio_p50=_pct(ratios, 0.5),
        ratio_p95=_pct(ratios, 0.95),
        encode_mb_s=orig / max(1e-9, sum(enc_t)) / 1e6,
        decode_mb_s=orig / max(1e-9, sum(dec_t)) / 1e6 if has_dec else None,
        encode_ms_p50=1e3 * _pct(enc_t, 0.5),
        encode_ms_p95=1e3 * _pct(enc_t, 0.95),
        decode_ms_p50=1e3 * _pct(dec_t, 0.5) if has_dec else None,
        decode_ms_p95=1e3 * _pct(dec_t, 0.95) if has_dec else None,
        exact=exact / len(data) if has_dec else None,
        encode_ms_per_kb_p50=_pct(enc_kb, 0.5),
        encode_ms_per_kb_p95=_pct(enc_kb, 0.95),
        decode_ms_per_kb_p50=_pct(dec_kb, 0.5) if has_dec else None,
        decode_ms_per_kb_p95=_pct(dec_kb, 0.95) if has_dec else None,
    )


def baseline_contenders(dictionary: bytes) -> list[Contender]:
    zc = zstd.ZstdCompressor(level=19)
    zd = zstd.ZstdDecompressor()
    dc = ZstdDictCodec(dictionary)
    return [
        Contender("zlib-9 (stub)", lambda d: zlib.compress(d, 9), lambda b, n: zlib.decompress(b)),
        Contender("zstd-19", zc.compress, lambda b, n: zd.decompress(b)),
        Contender("zstd-19+dict", dc.compress, dc.decompress),
    ]


def ppmd_primed_contender(reference: bytes, order: int = 12, mem_mb: int = 512) -> Contender | None:
    """PPMd (order ``order``) primed on the domain reference: what coding the record adds to it.

    PPMd's state cannot be copied, so the primed encoder lives in a process that forks once per
    record (copy-on-write): each record is coded from the same primed state, as nbmf does.
    """
    try:
        import pyppmd
    except ImportError:
        return None
    import os

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

    return Contender(f"ppmd-o{order} primed", encode, None)


def nbmf_contender(name: str, codec: NBMF, fidelity: Fidelity = Fidelity.LOSSLESS) -> Contender:
    from nbmf.payload import PayloadType

    def encode(d: bytes) -> bytes:
        return codec.encode_bytes(d, fidelity, PayloadType.BYTES, codec.model).frame

    def decode(b: bytes, n: int) -> bytes:
        return codec.decode_bytes(b)[1]

    return Contender(name, encode, decode)


def codec_only_contender(name: str, model: DomainModel, codec_id: CodecId) -> Contender:
    """One codec of a model alone, with the 12-byte frame header it would carry counted in."""
    c = model.codecs[codec_id]
    enc = getattr(c, "compress_unbounded", c.compress)
    return Contender(name, lambda d: b"\0" * 12 + enc(d), lambda b, n: c.decompress(b[12:], n))


def _reference_for(model: DomainModel, train_b: Sequence[bytes], registry: Registry | None, domain: str) -> bytes:
    """PPMd is primed on the same reference the neural model was primed with (or 1 MiB of train)."""
    if CodecId.NEURAL in model.codecs and registry is not None:
        from nbmf.neural.codec import unpack_files

        _, files = registry.load_files(domain, model.version)
        return unpack_files(files)[1]
    from nbmf.neural.build import select_reference

    return select_reference(train_b, 1 << 20)


def split_records(records: Sequence[Record], seed: int = 0) -> tuple[list[Record], list[Record]]:
    train: list[Record] = []
    test: list[Record] = []
    for r in records:
        key = record_key(r)
        (test if split_of(key, seed) == "test" else train).append(r)
    return train, test


def run_bench(
    records: Sequence[Record],
    domain: str,
    registry: Registry | None = None,
    version: int | None = None,
    max_test: int | None = 1000,
    dict_bytes: int = 112 * 1024,
    ppmd: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    train, test = split_records(records, seed)
    if not test or len(train) < 8:
        raise ValueError(f"need records from several source documents: got {len(train)} train / {len(test)} test")
    train_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in train]
    test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in test][:max_test]
    progress(f"{domain}: {len(train_b)} train / {len(test_b)} test records (split by source document, seed {seed})")
    dictionary = train_dictionary(train_b, dict_bytes)
    contenders = baseline_contenders(dictionary)
    model: DomainModel | None = None
    if registry is not None:
        codec = NBMF(registry)
        model = codec.load(domain, version) if version is not None else codec.model_for(domain)
    if model is None:
        ref = ModelRef.of(domain, 0, hashlib.sha256(dictionary).hexdigest())
        model = DomainModel(domain, 0, ref, {CodecId.ZSTD_DICT: ZstdDictCodec(dictionary, ref)})
    contenders.append(nbmf_contender(f"nbmf {domain}@{model.version} (best-of)", NBMF(model=model)))
    if CodecId.NEURAL in model.codecs and registry is not None:
        from nbmf.neural.codec import NeuralCodec

        _, files = registry.load_files(domain, model.version)
        contenders.append(codec_only_contender("nbmf neural codec only", model, CodecId.NEURAL))
        variants = {"mix without neural": NeuralCodec.from_files(files, use_neural=False)}
        if model.codecs[CodecId.NEURAL].state.nn.m2:  # type: ignore[attr-defined]
            variants["neural predictor alone"] = NeuralCodec.from_files(files, nn_only=True)
        for name, nc in variants.items():
            contenders.append(
                codec_only_contender(name, DomainModel(domain, model.version, model.ref, {CodecId.NEURAL: nc}), CodecId.NEURAL)
            )
    if ppmd:
        ref_text = _reference_for(model, train_b, registry, domain)
        pc = ppmd_primed_contender(ref_text)
        if pc is not None:
            contenders.append(pc)
    results = []
    for c in contenders:
        progress(f"  measuring {c.name} …")
        results.append(measure(c, test_b))
    return {
        "domain": domain,
        "train_records": len(train_b),
        "test_records": len(test_b),
        "test_bytes": sum(map(len, test_b)),
        "dict_bytes": len(dictionary),
        "model_version": model.version,
        "results": [asdict(r) for r in results],
    }


def format_table(report: dict[str, Any]) -> str:
    head = (
        f"{'codec':<28} {'ratio':>6} {'bpb':>5} {'p5':>5} {'p50':>5} {'p95':>5} "
        f"{'enc MB/s':>9} {'dec MB/s':>9} {'dec ms/KB p50/p95':>18} {'exact':>6}"
    )
    lines = [f"domain {report['domain']}: {report['test_records']} held-out records, {report['test_bytes']} bytes", head]
    for r in report["results"]:
        dec = f"{r['decode_mb_s']:9.2f}" if r["decode_mb_s"] is not None else f"{'-':>9}"
        dms = f"{r['decode_ms_per_kb_p50']:.2f}/{r['decode_ms_per_kb_p95']:.2f}" if r["decode_ms_p50"] is not None else "-"
        ex = f"{100 * r['exact']:5.1f}%" if r["exact"] is not None else "-"
        lines.append(
            f"{r['name']:<28} {r['total_ratio']:6.2f} {r['bits_per_byte']:5.2f} {r['ratio_p5']:5.2f} {r['ratio_p50']:5.2f} "
            f"{r['ratio_p95']:5.2f} {r['encode_mb_s']:9.2f} {dec} {dms:>18} {ex:>6}"
        )
    return "\n".join(lines)
