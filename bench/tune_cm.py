"""Tune the context-mixing core (no neural input) on the built-in corpus's held-out records.

    python bench/tune_cm.py DOMAIN '{"table_bits": 24, "limit": 60}' [REFERENCE_MIB]
Needs data/corpus/<domain>.jsonl (`nbmf corpus --out data/corpus`). Prints ratio and bits/byte
over the first 250 test records (frames' 12-byte headers counted).
"""

import json
import sys
import time

from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMConfig, CMState
from nbmf.records import read_records

if __name__ == "__main__":
    dom, kw = sys.argv[1], json.loads(sys.argv[2])
    refmb = float(sys.argv[3]) if len(sys.argv) > 3 else 4
    sp = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))
    ref = select_reference(sp["train"], int(refmb * 2**20))
    t = time.time()
    st = CMState.build(CMConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}), ref)
    prime = time.time() - t
    coded = orig = 0
    for x in sp["test"][:250]:
        coded += len(st.encode(x, 2 * len(x) + 64)) + 12
        orig += len(x)
    print(f"{dom} {kw} ref={refmb}MiB ratio={orig / coded:.3f} bpb={8 * coded / orig:.4f} prime={prime:.1f}s")
