"""Per-record cost of the core: median encode / decode ms for records of 16-4000 bytes.

    python bench/record_size_speed.py LABEL
Legal, 1 MiB reference, the shipped tables and config (format 5 core, no neural input); 8 records per
size cut from held-out text, 15 rounds. Needs data/corpus (`nbmf corpus --out data/corpus`). To compare
two versions of the kernel, run it from two source trees (PYTHONPATH) in alternation.
"""

import sys
import time

import numpy as np

from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMConfig, CMState
from nbmf.records import read_records

sp = split_bytes(list(read_records("data/corpus/legal.jsonl")))
ref = select_reference(sp["train"], 1 << 20)
st = CMState.build(CMConfig(), ref)
long = b"\n".join(sp["test"][:20])
res = []
for n in (16, 200, 1000, 4000):
    xs = [long[i * n : (i + 1) * n] for i in range(8)]
    cs = [st.encode(x, 4 * n + 64) for x in xs]
    te, td = [], []
    for _ in range(15):
        for x, c in zip(xs, cs):
            t = time.perf_counter()
            st.encode(x, 4 * n + 64)
            te.append(time.perf_counter() - t)
            t = time.perf_counter()
            st.decode(c, n)
            td.append(time.perf_counter() - t)
    res.append(f"{n}B enc {np.median(te) * 1e3:.3f} dec {np.median(td) * 1e3:.3f} ms")
print(sys.argv[1], " | ".join(res))
