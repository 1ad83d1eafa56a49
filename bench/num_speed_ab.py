"""Format 10 against format 11 (the number context), interleaved in one process (#15, thirty-sixth session).

    python bench/num_speed_ab.py

Builds the core (no predictor) with and without ``"num"`` on 1 MiB of financial's train side, then encodes the first
300 held-out records with each, in three alternating rounds; prints ms per KB. Run it alone on the machine.
"""

import time

from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMConfig, CMState
from nbmf.records import read_records

if __name__ == "__main__":
    sp = split_bytes(list(read_records("data/corpus/financial.jsonl")))
    ref = select_reference(sp["train"], 1 << 20)
    test = sp["test"][:300]
    kb = sum(map(len, test)) / 1024
    c11 = tuple(c for c in CMConfig().contexts if c != "shape")  # format 11's (the shape context came in format 19)
    c10 = tuple(c for c in c11 if c != "num")
    states = {n: CMState.build(CMConfig(contexts=c), ref) for n, c in (("10", c10), ("11", c11))}
    for st in states.values():
        st.encode(test[0], 2000)  # compile outside the timing
    for rnd in range(3):
        for n, st in states.items():
            t = time.perf_counter()
            for x in test:
                st.encode(x, 2 * len(x) + 64)
            print(rnd, n, round(1000 * (time.perf_counter() - t) / kb, 2), "ms/KB", flush=True)
