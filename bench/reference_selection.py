"""Which train records make the best reference when they do not all fit? (issue #15, sixty-second and sixty-third sessions)

A build primed its core on the train records in content-hash order, cut at the limit (32 MiB by default; 16 MiB before
2026-12-02). Where the train split is larger (10K-100K records of a memory service's domain hold 10-400 MB; here the
limit is set below a domain's train split instead), that is a random sample, repeats and near-repeats included. This script
primes the core (no predictor; the product's choices given) on references chosen other ways, at the same limit, and
codes the same held-out test records with each (payload bytes, records coded alone with their end, as frames of
version 4/5 carry them):

- ``hash``: the records in content-hash order, the first that fit (``select_reference`` before the sixty-second session;
  ``hash`` calls it with ``novel`` 0);
- ``novel:T``: the same order, but a record is passed over while less than ``T`` of its sampled 16-byte shingles are new
  to the reference so far (text another record already put there), and the passed-over ones fill what room is left
  (where all the train records fit, this only moves the passed-over ones to the end);
- ``dedup:T``: as ``novel:T``, the passed-over ones left out even where they fit;
- ``hash:SALT``: another random sample in the same way as ``hash`` (how much the sample alone moves the bytes);
- ``cover:WEIGHT``: greedy coverage (``nbmf.neural.reference.covering_first``): the record worth most per byte goes in
  next, worth the sum of its sampled shingles' weights that the reference does not hold yet; ``cover:df`` (each
  shingle weighs how many train records hold it) is the product's ``cover`` since the sixty-third session; ``one``,
  ``log``, ``powX``, ``docX`` weigh otherwise (``worth_of``); those in the order chosen (the product's in the sixty-third
  session); ``cover:df:hash`` and ``cover:df:reverse`` put the same records in content-hash order or in the order chosen
  reversed (``select_cover``; ``reverse`` is the product's since the sixty-fourth session).

    python bench/reference_selection.py DOMAIN LIMIT_MIB [STRATEGY ...] [--records N]

Needs data/corpus/<domain>.jsonl (``nbmf corpus --out data/corpus``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbmf.config import CMParams  # noqa: E402
from nbmf.neural.build import select_reference, split_bytes  # noqa: E402
from nbmf.neural.cm import CMState  # noqa: E402
from nbmf.neural.codec import cm_config  # noqa: E402
from nbmf.neural.reference import content_order, covering_first, distinct_first, fill, shingle_array, shingles  # noqa: E402
from nbmf.records import read_records  # noqa: E402

CHOICES = {"order_sets": True, "match_trust": 5, "lr_record": 20, "mixers": 6}  # jobs/demo.py's DEMO_CHOICES


def salted(records: list[bytes], salt: str) -> list[bytes]:
    """The records in content-hash order (``select_reference``'s), or, with a salt, in another such order."""
    return content_order(records) if not salt else sorted(records, key=lambda r: hashlib.sha256(salt.encode() + r).digest())


def select_novel(records: list[bytes], limit: int, threshold: float, salt: str = "", fill_room: bool = True) -> bytes:
    """``nbmf.neural.reference.select_reference``'s ``novel`` choice, also where everything fits (then it only moves the
    passed-over records to the end), in another order (``salt``) or without the passed-over ones (``fill_room`` false)."""
    out, size, passed = distinct_first(salted(records, salt), limit, threshold)
    return b"\0".join(fill(out, size, passed, limit) if fill_room else out)


DOCS: dict[bytes, str] = {}  # a train record's document (its source), for the ``doc`` weight


def worth_of(weight: str, ordered: list[bytes]):  # type: ignore[no-untyped-def]
    """A weight for ``covering_first``: each distinct shingle's integer worth from how many records hold it (``df``,
    the product's), 1 (``one``), 256 log2(1 + df) (``log``), 256 df ** X (``powX``), or 256 (documents holding it) ** X
    (``docX``). (The sixty-third session's figures for log, pow and doc came from a first version of this script that
    weighed in floats and counted with Python sets: ``bench/results/s63/reference_selection_setbased.py.txt``; df's
    reference is the same bytes both ways.)"""
    if weight == "df":
        return None
    if weight == "one":
        return lambda keys, counts: np.ones(len(keys), np.int64)
    if weight == "log":
        return lambda keys, counts: np.round(256 * np.log2(1.0 + counts)).astype(np.int64)
    if weight.startswith("pow"):
        x = float(weight[3:])
        return lambda keys, counts: np.round(256 * counts.astype(np.float64) ** x).astype(np.int64)
    if weight.startswith("doc"):
        x = float(weight[3:] or 1)

        def by_documents(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
            arrays = [shingle_array(r) for r in ordered]
            docs = np.concatenate([np.full(len(a), hash(DOCS.get(r, r)), np.int64) for a, r in zip(arrays, ordered, strict=True)])
            pairs = np.unique(np.stack([np.concatenate(arrays).view(np.int64), docs], axis=1), axis=0)
            dk, dc = np.unique(pairs[:, 0].view(np.uint64), return_counts=True)
            assert (dk == keys).all()
            return np.round(256 * dc.astype(np.float64) ** x).astype(np.int64)

        return by_documents
    raise SystemExit(f"unknown weight {weight}")


def select_cover(records: list[bytes], limit: int, weight: str, order: str = "") -> bytes:
    """``nbmf.neural.reference.covering_first`` (the product's ``cover``, weight ``df``), also with other weights, and
    the records chosen in another order: ``hash`` (content-hash order, as where everything fits), ``reverse`` (the
    greedy order reversed: the common text last, nearest the records coded; the product's since the sixty-fourth
    session); without ``order``, the greedy order (the product's in the sixty-third session)."""
    ordered = content_order(records)
    chosen = covering_first(ordered, limit, worth_of(weight, ordered))
    if order == "hash":
        chosen = content_order(chosen)
    elif order == "reverse":
        chosen = chosen[::-1]
    elif order:
        raise SystemExit(f"unknown order {order}")
    return b"\0".join(chosen)


def distinct_share(reference: bytes) -> float:
    """Share of the reference's sampled shingles that are distinct (a rough measure of how much it repeats itself)."""
    recs = reference.split(b"\0")
    allh: list[int] = []
    for r in recs:
        allh.extend(shingles(r))
    return len(set(allh)) / max(1, len(allh))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("domain")
    ap.add_argument("limit_mib", type=float)
    ap.add_argument("strategies", nargs="*", default=["hash", "novel:0.5"])
    ap.add_argument("--records", type=int, default=400)
    args = ap.parse_args()
    recs = list(read_records(f"data/corpus/{args.domain}.jsonl"))
    sp = split_bytes(recs)
    from nbmf.payload import Fidelity, to_bytes
    from nbmf.records import record_key

    for r in recs:
        DOCS.setdefault(to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS), record_key(r))
    train, test = sp["train"], sp["test"][: args.records]
    limit = int(args.limit_mib * 2**20)
    orig = sum(len(x) for x in test)
    print(f"{args.domain}: train {len(train)} records, {sum(map(len, train)) / 2**20:.2f} MiB; limit {args.limit_mib} MiB; "
          f"{len(test)} test records, {orig} bytes", flush=True)  # fmt: skip
    for strat in args.strategies:
        t0 = time.time()
        kind, _, arg = strat.partition(":")
        if strat == "hash":
            ref = select_reference(train, limit, novel=0, select="novel")
        elif kind == "hash":  # hash:SALT, another random sample of the same size: how much the sample alone moves the bytes
            ref = b"\0".join(fill([], 0, salted(train, arg), limit))
        elif kind == "novel":  # novel:T or novel:T:SALT
            t, _, salt = arg.partition(":")
            ref = select_novel(train, limit, float(t), salt)
        elif kind == "cover":  # cover:WEIGHT[:ORDER], greedy coverage of the train split's text (cover:df: the product's)
            weight, _, order = arg.partition(":")
            ref = select_cover(train, limit, weight, order)
        elif kind == "dedup":  # dedup:T: as novel:T, but the passed-over records are left out even where there is room
            ref = select_novel(train, limit, float(arg), fill_room=False)
        else:
            raise SystemExit(f"unknown strategy {strat}")
        t_sel = time.time() - t0
        cm = cm_config(CMParams(**CHOICES).sized_for(len(ref)))
        t0 = time.time()
        st = CMState.build(cm, ref)
        t_prime = time.time() - t0
        coded = 0
        for x in test:
            coded += len(st.encode(x, 2 * len(x) + 64, ends=True))
        del st
        row = {
            "domain": args.domain,
            "limit_mib": args.limit_mib,
            "strategy": strat,
            "reference_bytes": len(ref),
            "reference_records": ref.count(b"\0") + 1,
            "distinct_shingles": round(distinct_share(ref), 4),
            "select_s": round(t_sel, 1),
            "prime_s": round(t_prime, 1),
            "test_bytes": orig,
            "payload_bytes": coded,
            "ratio": round(orig / coded, 4),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
