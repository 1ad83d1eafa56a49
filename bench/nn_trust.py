"""The predictor's trust while a record is coded: a probe (#15, fifty-third session).

    python bench/nn_trust.py DOMAIN REGISTRY RECORDS [TRUSTS ...]      (trusts in eighths; default 4 6 8 10 12 16)

Format 16 scales the match models' inputs to the mixers by a trust (eighths) while a record is coded, never while
priming: priming meets matches among a record's siblings, and a new document's matches hold less often. The predictor
could be the other way round: the primed counters are surer on the reference than on a new document (general's core
codes its val split at 0.72 bits per byte and held-out records at 1.19, twenty-third session), while the predictor's
train and val losses are close, so the mixers, which learn their trust in it while priming, may trust it too little
on a new record; or, trained on the reference, too much. A scratch copy of the kernel (``scratch_kernels.sub``; the
shipped kernel is not touched) scales the predictor's input to the mixers by ``cfg[C_LR]`` bits 40-47 (eighths, 0: as
shipped) while a record is coded. Version 1 of DOMAIN is primed once with its predictor (the trust does not change
priming) and once without; the first RECORDS held-out records of data/corpus/DOMAIN.jsonl are coded at each trust.
Prints payload bytes and the share (bytes without / bytes with - 1) per trust; trust 8 is the shipped codec.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from scratch_kernels import KERNEL, load_kernel, sub

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry

SHIFT = 40


def source() -> str:
    src = KERNEL.read_text()
    src = sub(
        src,
        "    trust = ((cfg[C_LR] >> TRUST_SHIFT) & 15) if mode != PRIME else 0",
        "    trust = ((cfg[C_LR] >> TRUST_SHIFT) & 15) if mode != PRIME else 0\n"
        f"    ntrust = ((cfg[C_LR] >> {SHIFT}) & 255) if mode != PRIME else 0",
    )
    return sub(
        src,
        "            xin[base + 2] = 0 if x_late else nn_st  # format 15: the predictor speaks in the post mixer only\n",
        "            xin[base + 2] = 0 if x_late else nn_st  # format 15: the predictor speaks in the post mixer only\n"
        "            if ntrust:\n"
        "                xin[base + 2] = max(-2047, min(2047, (xin[base + 2] * ntrust) >> 3))\n",
    )


def main() -> None:
    domain, registry, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
    trusts = [int(t) for t in sys.argv[4:]] or [4, 6, 8, 10, 12, 16]
    mod = load_kernel(Path(tempfile.mkdtemp(prefix="nbmf-nntrust-")) / "kernel_nntrust.py", source())
    test = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))["test"][:records]
    w, ref, cmp, _ = unpack_files(Registry(registry).load_files(domain, 1)[1])
    total = sum(map(len, test))
    without = CMState.build(cm_config(cmp), ref, w, use_nn=False)
    base = sum(len(without.encode(x, 2 * len(x) + 64)) for x in test)
    del without
    print(f"{domain}: {len(test)} records, {total} bytes; without the predictor {base} payload bytes", flush=True)
    st = CMState.build(cm_config(cmp), ref, w)
    keep = int(st.cfg[mod.C_LR]) & ~(255 << SHIFT)
    for t in trusts:
        st.cfg[mod.C_LR] = keep | ((t if t != 8 else 0) << SHIFT)
        n = sum(len(st.encode(x, 2 * len(x) + 64)) for x in test)
        print(f"{domain} trust {t}/8: {n} bytes ({total / n:.4f}x), share {100 * (base / n - 1):+.2f} %", flush=True)


if __name__ == "__main__":
    main()
