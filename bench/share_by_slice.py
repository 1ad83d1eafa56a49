"""Where the trained model's share comes from: the share per slice of held-out records (#15).

    python bench/share_by_slice.py DOMAIN REGISTRY [--records 400] [--slice 100]

Traces the first RECORDS held-out records of data/corpus/DOMAIN.jsonl through the registry's production model
of DOMAIN, primed on its own reference, with and without its neural input (``CMState.trace``: the ideal code
length of each bit's probability, so no coder rounding and no headers), and prints per slice of SLICE records
(in the split's order, as ``nbmf bench --max-test`` takes them) the bytes, bits/byte of each and the share:
bits without / bits with - 1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def record_bits(st: CMState, recs: list[bytes]) -> np.ndarray:
    """Ideal bits of each record under ``st``."""
    out = np.zeros(len(recs))
    for i, r in enumerate(recs):
        p = st.trace(r)[:, 0].astype(np.float64) / 4096
        y = np.unpackbits(np.frombuffer(r, np.uint8))
        out[i] = -np.log2(np.where(y == 1, p, 1 - p)).sum()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("domain")
    ap.add_argument("registry")
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--slice", type=int, default=100)
    a = ap.parse_args()
    test = split_bytes(list(read_records(f"data/corpus/{a.domain}.jsonl")))["test"][: a.records]
    reg = Registry(a.registry)
    version = reg.channels(a.domain).production
    assert version is not None, f"{a.registry} has no production model of {a.domain}"
    w, ref, cm, _ = unpack_files(reg.load_files(a.domain, version)[1])
    bits = {}
    for use_nn in (False, True):
        t = time.time()
        st = CMState.build(cm_config(cm), ref, w, use_nn=use_nn)
        bits[use_nn] = record_bits(st, test)
        print(f"primed and traced (neural input: {use_nn}) in {time.time() - t:.0f} s", flush=True)
        del st
    n = np.array([len(r) for r in test], np.float64)
    print(f"{a.domain} version {version}: records | bytes | bits/byte without | with | share")
    rows = [(i, min(i + a.slice, len(test))) for i in range(0, len(test), a.slice)] + [(0, len(test))]
    for lo, hi in rows:
        b0, b1, nb = bits[False][lo:hi].sum(), bits[True][lo:hi].sum(), n[lo:hi].sum()
        print(f"  {lo:4d}-{hi:<4d} | {int(nb):8d} | {b0 / nb:.4f} | {b1 / nb:.4f} | {b0 / b1 - 1:+.2%}")


if __name__ == "__main__":
    main()
