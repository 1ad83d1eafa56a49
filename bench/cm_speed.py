"""Coding speed of the CM core, artifact formats 1 to 11, in one process (no neural input).

    python bench/cm_speed.py [DOMAIN] [REFERENCE_MIB] [RECORDS] [FORMATS, e.g. 5,6]
Needs data/corpus/<domain>.jsonl (``nbmf corpus --out data/corpus``). Builds each state on the train
side's reference (prints the priming time per reference byte), then encodes and decodes the first
RECORDS held-out records twice; prints ms per KB. To compare kernels, run it with PYTHONPATH set to
another checkout's tree (``git archive REV nbmf | tar -x -C DIR``).
Run it alone on the machine: it measures time.
"""

import sys
import time

from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMConfig, CMState
from nbmf.records import read_records

if __name__ == "__main__":
    dom = sys.argv[1] if len(sys.argv) > 1 else "technical"
    mib = float(sys.argv[2]) if len(sys.argv) > 2 else 8
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 80
    sp = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))
    ref = select_reference(sp["train"], int(mib * 2**20))
    test = sp["test"][:count]
    kb = sum(map(len, test)) / 1024
    f4 = ("json", "word", "ind", "match")
    f6 = (*f4, "ind3", "word3")
    f7 = (*f6, "recw", "rec3")  # formats 7 to 9
    old = {"lr_record": 0, "wide_mixers": False, "lr": 6, "freeze": 0, "ends": False, "mixers": 3}  # formats 2-4
    f11 = {"mixers": 3, "lr": 4}  # formats 6-11: three mixers (four from format 18), priming at rate 4
    formats = (
        ("format 1", CMConfig(contexts=(), ways=1, apms=2, **(old | {"mixers": 2}))),
        ("format 2", CMConfig(contexts=("json", "word"), ways=1, apms=2, **old)),
        ("format 3", CMConfig(contexts=("json", "word", "ind"), ways=1, apms=2, **old)),
        ("format 4", CMConfig(contexts=f4, **old)),
        ("format 5", CMConfig(contexts=f6, wide_mixers=False, lr=6, freeze=0, ends=False, mixers=3)),
        ("format 6", CMConfig(contexts=f6, freeze=0, ends=False, **f11)),
        ("format 7", CMConfig(contexts=f7, freeze=0, ends=False, **f11)),
        ("format 8", CMConfig(contexts=f7, ends=False, **f11)),
        ("format 9", CMConfig(contexts=f7, **f11)),  # records coded with their length here: format 8's bytes, priming also learns ends
        ("format 10", CMConfig(contexts=(*f7, "line", "paren"), **f11)),  # + the line's layout context
        # + the numbers the record's last two imply
        ("format 11", CMConfig(contexts=(*f7, "line", "paren", "num"), post_mix=False, once=False, runs=False, **f11)),
    )
    wanted = sys.argv[4].split(",") if len(sys.argv) > 4 else [str(n) for n in range(1, 12)]
    formats = tuple(f for f in formats if f[0].split()[1] in wanted)
    for name, cfg in formats:
        t = time.perf_counter()
        st = CMState.build(cfg, ref)
        print(f"{dom} {name}: priming {1e6 * (time.perf_counter() - t) / len(ref):.2f} us/B", flush=True)
        st.encode(test[0], 2 * len(test[0]) + 64)  # compile outside the timing
        for _ in range(2):
            t = time.perf_counter()
            coded = [st.encode(x, 2 * len(x) + 64) for x in test]
            te = time.perf_counter() - t
            t = time.perf_counter()
            for x, c in zip(test, coded, strict=True):
                assert st.decode(c, len(x)) == x
            td = time.perf_counter() - t
            print(f"{dom} {name}: encode {1000 * te / kb:.2f} ms/KB, decode {1000 * td / kb:.2f} ms/KB", flush=True)
        del st
