"""Tune the context-mixing core (no neural input) on the built-in corpus's held-out records.

    python bench/tune_cm.py DOMAIN '{"table_bits": 24, "limit": 60}' [REFERENCE_MIB] [--ppmd]
Needs data/corpus/<domain>.jsonl (`nbmf corpus --out data/corpus`). Prints ratio and bits/byte
over the first 250 test records (frames' 12-byte headers counted); ``--ppmd``: also PPMd order 12
primed on the same reference (``nbmf.measurement.ppmd_primed``), on the same records and headers.
"""

import json
import sys
import time

from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMConfig, CMState
from nbmf.records import read_records

if __name__ == "__main__":
    with_ppmd = "--ppmd" in sys.argv
    argv = [a for a in sys.argv if a != "--ppmd"]
    dom, kw = argv[1], json.loads(argv[2])
    refmb = float(argv[3]) if len(argv) > 3 else 4
    sp = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))
    ref = select_reference(sp["train"], int(refmb * 2**20))
    t = time.time()
    st = CMState.build(CMConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}), ref)
    prime = time.time() - t
    coded = orig = 0
    for x in sp["test"][:250]:
        coded += len(st.encode(x, 2 * len(x) + 64)) + 12
        orig += len(x)
    line = f"{dom} {kw} ref={refmb}MiB ratio={orig / coded:.3f} bpb={8 * coded / orig:.4f} prime={prime:.1f}s"
    if with_ppmd:
        from nbmf.measurement import ppmd_primed

        del st  # PPMd forks per record: no 300 MB state to copy on write
        ppmd = ppmd_primed(ref)
        assert ppmd is not None, "pyppmd is not installed"
        pcoded = sum(len(ppmd.encode(x)) + 12 for x in sp["test"][:250])
        line += f" ppmd12={orig / pcoded:.3f} nbmf/ppmd={pcoded / coded:.3f}"
    print(line)
