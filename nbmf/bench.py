"""``nbmf bench``: every codec on the same held-out records, headers included.

records --split by source document--> train (dictionary, priming) | test (measured)
per codec: total ratio = sum(original) / sum(coded), per-record p5/p50/p95 ratio,
           encode/decode MB/s and ms per record (median, p95), byte-exact round trips
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from nbmf import frame as fr
from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.codecs.base import codes_ends, compress_with, decompress_with
from nbmf.codecs.zstd_dict import ZstdDictCodec, train_dictionary
from nbmf.frame import CodecId, ModelRef
from nbmf.measurement import Contender, Result, Role, baselines, measure, ppmd_primed
from nbmf.payload import Fidelity, PayloadType, to_bytes
from nbmf.records import Record, record_key
from nbmf.registry import Registry
from nbmf.split import split_of


class BenchReport(BaseModel):
    domain: str
    train_records: int
    test_records: int
    test_bytes: int
    dict_bytes: int
    model_version: int
    results: list[Result]


def nbmf_contender(name: str, codec: NBMF, fidelity: Fidelity = Fidelity.LOSSLESS, role: Role = Role.NBMF) -> Contender:
    def encode(d: bytes) -> bytes:
        return codec.encode_bytes(d, fidelity, PayloadType.BYTES, codec.model).frame

    def decode(b: bytes, n: int) -> bytes:
        return codec.decode_bytes(b)[1]

    return Contender(role, name, encode, decode)


def codec_only_contender(role: Role, name: str, model: DomainModel, codec_id: CodecId) -> Contender:
    """One codec of a model alone, with the frame header it would carry counted in (zeros of its size)."""
    c = model.codecs[codec_id]
    ends = codes_ends(c)
    version = fr.version_for(NBMF().frame_version_for(model), ends, model.ref)  # what the library would write with this model
    ends = ends and version >= fr.ENDS_VERSION
    unbounded = getattr(c, "compress_unbounded", None)  # the neural codec: code even when it does not shrink

    def encode(d: bytes) -> bytes:
        payload = unbounded(d, ends=ends) if unbounded is not None else compress_with(c, d, ends)
        return b"\0" * fr.header_size(len(d), model.ref, version, codec_id) + payload

    def decode(b: bytes, n: int) -> bytes:
        return decompress_with(c, b[fr.header_size(n, model.ref, version, codec_id) :], None if ends else n, n)

    return Contender(role, name, encode, decode)


def _reference_for(model: DomainModel, train_b: Sequence[bytes], registry: Registry | None, domain: str) -> bytes:
    """PPMd is primed on the same reference the neural model was primed with (or 1 MiB of train)."""
    if CodecId.NEURAL in model.codecs and registry is not None:
        from nbmf.neural.codec import unpack_files

        _, files = registry.load_files(domain, model.version)
        return unpack_files(files)[1]
    from nbmf.neural.reference import select_reference

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
    timing_rounds: int = 1,
) -> BenchReport:
    """``timing_rounds`` > 1: every codec that decodes codes the held-out records that many times, and its result also
    holds each record's best time (``measurement.measure``)."""
    train, test = split_records(records, seed)
    if not test or len(train) < 8:
        raise ValueError(f"need records from several source documents: got {len(train)} train / {len(test)} test")
    train_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in train]
    test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in test][:max_test]
    progress(f"{domain}: {len(train_b)} train / {len(test_b)} test records (split by source document, seed {seed})")
    dictionary = train_dictionary(train_b, dict_bytes)
    contenders = baselines(dictionary)
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
        contenders.append(codec_only_contender(Role.NEURAL_ONLY, "nbmf neural codec only", model, CodecId.NEURAL))
        variants = {(Role.MIX_WITHOUT_NEURAL, "mix without neural"): NeuralCodec.from_files(files, use_neural=False)}
        if model.codecs[CodecId.NEURAL].state.nn.m2:  # type: ignore[attr-defined]
            variants[(Role.PREDICTOR_ONLY, "neural predictor alone")] = NeuralCodec.from_files(files, nn_only=True)
        for (role, name), nc in variants.items():
            contenders.append(
                codec_only_contender(role, name, DomainModel(domain, model.version, model.ref, {CodecId.NEURAL: nc}), CodecId.NEURAL)
            )
    if ppmd:
        ref_text = _reference_for(model, train_b, registry, domain)
        pc = ppmd_primed(ref_text)
        if pc is not None:
            contenders.append(pc)
    results = []
    for c in contenders:
        progress(f"  measuring {c.name} …" + (f" ({timing_rounds} rounds)" if timing_rounds > 1 and c.decode is not None else ""))
        results.append(measure(c, test_b, timing_rounds))
    return BenchReport(
        domain=domain,
        train_records=len(train_b),
        test_records=len(test_b),
        test_bytes=sum(map(len, test_b)),
        dict_bytes=len(dictionary),
        model_version=model.version,
        results=results,
    )


def format_table(report: BenchReport) -> str:
    head = (
        f"{'codec':<28} {'ratio':>6} {'bpb':>5} {'p5':>5} {'p50':>5} {'p95':>5} "
        f"{'enc MB/s':>9} {'dec MB/s':>9} {'dec ms/KB p50/p95':>18} {'exact':>6}"
    )
    rounds = max(r.timing_rounds for r in report.results)
    if rounds > 1:
        head += f" {f'best of {rounds}: enc/dec ms/KB p95':>33}"
    lines = [f"domain {report.domain}: {report.test_records} held-out records, {report.test_bytes} bytes", head]
    for r in report.results:
        dec = f"{r.decode_mb_s:9.2f}" if r.decode_mb_s is not None else f"{'-':>9}"
        dms = f"{r.decode_ms_per_kb_p50:.2f}/{r.decode_ms_per_kb_p95:.2f}" if r.decode_ms_per_kb_p50 is not None else "-"
        ex = f"{100 * r.exact:5.1f}%" if r.exact is not None else "-"
        line = (
            f"{r.name:<28} {r.total_ratio:6.2f} {r.bits_per_byte:5.2f} {r.ratio_p5:5.2f} {r.ratio_p50:5.2f} "
            f"{r.ratio_p95:5.2f} {r.encode_mb_s:9.2f} {dec} {dms:>18} {ex:>6}"
        )
        if rounds > 1:
            enc, dec_best = r.encode_ms_per_kb_best_p95, r.decode_ms_per_kb_best_p95
            best = f"{enc:.2f}/{dec_best:.2f}" if enc is not None and dec_best is not None else "-"
            line += f" {best:>33}"
        lines.append(line)
    return "\n".join(lines)
