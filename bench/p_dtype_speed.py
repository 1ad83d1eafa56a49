"""Coding speed with the predictor's first-layer table held as another integer type (the same integers).

    python bench/p_dtype_speed.py DOMAIN REGISTRY int64 int16 [...]
Primes the registry's version 1 of DOMAIN once per type, encodes the first 150 held-out records of
data/corpus/DOMAIN.jsonl twice (ms per KB, the kernel alone: no frame, no verifying decode), and checks that every
type gives the same bytes. Run it alone on the machine: it measures time.
"""

import dataclasses
import sys
import time

import numpy as np

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry

if __name__ == "__main__":
    dom, reg, types = sys.argv[1], sys.argv[2], sys.argv[3:]
    test = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))["test"][:150]
    w, ref, cm, _ = unpack_files(Registry(reg).load_files(dom, 1)[1])
    kb = sum(map(len, test)) / 1024
    outs = {}
    for dt in types:
        st = CMState.build(cm_config(cm), ref, dataclasses.replace(w, P=np.ascontiguousarray(w.P.astype(dt))))
        st.encode(test[0], 2 * len(test[0]) + 64)  # compiled for this type before the clock starts
        for _ in range(2):
            t = time.perf_counter()
            outs[dt] = [st.encode(x, 2 * len(x) + 64) for x in test]
            ms_per_kb = (time.perf_counter() - t) * 1000 / kb
            print(f"{dom} P {dt} (values {int(w.P.min())}..{int(w.P.max())}): encode {ms_per_kb:.2f} ms/KB", flush=True)
        del st
    print("the same bytes for every type:", all(o == outs[types[0]] for o in outs.values()))
