"""Coding speed of two models of one domain, interleaved (e.g. a ``factored`` and a ``table`` first layer).

    python bench/model_speed_ab.py DOMAIN REGISTRY_A REGISTRY_B [--rounds N] [--records N]
Primes version 1 of DOMAIN from each registry, then encodes the first RECORDS (default 150) held-out records of
data/corpus/DOMAIN.jsonl with A then B, then B then A, N rounds (default 4), so that a slow spell of the machine falls on both
alike (ms per KB, the kernel alone: no frame, no verifying decode). Prints each round, then each model's best and
median, the P table's value range and the coded size. Run it alone on the machine.
"""

import argparse
import time

import numpy as np

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("domain")
    ap.add_argument("registries", nargs=2)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--records", type=int, default=150)
    a = ap.parse_args()
    test = split_bytes(list(read_records(f"data/corpus/{a.domain}.jsonl")))["test"][: a.records]
    kb = sum(map(len, test)) / 1024
    states, ranges = {}, {}
    for reg in a.registries:
        w, ref, cm, _ = unpack_files(Registry(reg).load_files(a.domain, 1)[1])
        states[reg] = st = CMState.build(cm_config(cm), ref, w)
        ranges[reg] = (int(w.P.min()), int(w.P.max()))
        st.encode(test[0], 2 * len(test[0]) + 64)  # compiled before the clock starts
    times: dict[str, list[float]] = {reg: [] for reg in a.registries}
    size: dict[str, int] = {}
    for r in range(a.rounds):
        for reg, st in list(states.items())[:: 1 if r % 2 == 0 else -1]:  # A B, B A, ...: neither always runs first
            t = time.perf_counter()
            size[reg] = sum(len(st.encode(x, 2 * len(x) + 64)) for x in test)
            times[reg].append((time.perf_counter() - t) * 1000 / kb)
            print(f"round {r + 1}: {a.domain} {reg}: encode {times[reg][-1]:.2f} ms/KB", flush=True)
    for reg in a.registries:
        print(
            f"{a.domain} {reg}: best {min(times[reg]):.2f}, median {float(np.median(times[reg])):.2f} ms/KB over {a.rounds} rounds; "
            f"P values {ranges[reg][0]}..{ranges[reg][1]}; {size[reg]} coded bytes for {sum(map(len, test))}"
        )
