"""Coding speed with the predictor's first-layer table held as another integer type (the same integers).

    python bench/p_dtype_speed.py DOMAIN REGISTRY int64 int16 [...] [--rounds N]
Primes the registry's version 1 of DOMAIN once per type, then encodes the first 150 held-out records of
data/corpus/DOMAIN.jsonl with each type in turn, N rounds (default 2) interleaved so that a slow spell of the
machine falls on every type alike (ms per KB, the kernel alone: no frame, no verifying decode). Prints each round,
then each type's best and median, and checks that every type gives the same bytes. Run it alone on the machine.
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
    args = sys.argv[1:]
    rounds = 2
    if "--rounds" in args:
        k = args.index("--rounds")
        rounds = int(args[k + 1])
        del args[k : k + 2]
    dom, reg, types = args[0], args[1], args[2:]
    test = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))["test"][:150]
    w, ref, cm, _ = unpack_files(Registry(reg).load_files(dom, 1)[1])
    kb = sum(map(len, test)) / 1024
    states = {}
    for dt in types:
        wt = dataclasses.replace(w)
        wt.P = np.ascontiguousarray(w.P.astype(dt))  # after construction: NeuralWeights would narrow it to int16
        states[dt] = st = CMState.build(cm_config(cm), ref, wt)
        st.encode(test[0], 2 * len(test[0]) + 64)  # compiled for this type before the clock starts
    outs: dict[str, list[bytes]] = {}
    times: dict[str, list[float]] = {dt: [] for dt in types}
    for r in range(rounds):
        for dt in types:
            t = time.perf_counter()
            outs[dt] = [states[dt].encode(x, 2 * len(x) + 64) for x in test]
            times[dt].append((time.perf_counter() - t) * 1000 / kb)
            print(f"round {r + 1}: {dom} P {dt} (values {int(w.P.min())}..{int(w.P.max())}): encode {times[dt][-1]:.2f} ms/KB", flush=True)
    for dt in types:
        print(f"{dom} P {dt}: best {min(times[dt]):.2f}, median {float(np.median(times[dt])):.2f} ms/KB over {rounds} rounds")
    print("the same bytes for every type:", all(o == outs[types[0]] for o in outs.values()))
