"""Coding speed of the kernel against another version of it, in one process, interleaved round by round.

    git show REV:nbmf/neural/kernel.py > /tmp/kernel_old.py
    python bench/kernel_ab.py DOMAIN REGISTRY /tmp/kernel_old.py [--rounds N] [--decode]
Primes the registry's version 1 of DOMAIN once, then encodes (or, with --decode, decodes) the first 150 held-out
records of data/corpus/DOMAIN.jsonl with the other kernel and with this one in turn (who goes first alternates),
N rounds (default 5), so that a slow spell of the machine falls on both. Prints each round, then each kernel's best
and median ms per KB, and checks that both give the same bytes. A change that should move no value (a cache hint,
a type) is measured here. Run it alone on the machine.
"""

import importlib.util
import sys
import time

import numpy as np

from nbmf.neural import cm
from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry

if __name__ == "__main__":
    args = sys.argv[1:]
    rounds, decode = 5, "--decode" in args
    args = [a for a in args if a != "--decode"]
    if "--rounds" in args:
        k = args.index("--rounds")
        rounds = int(args[k + 1])
        del args[k : k + 2]
    dom, reg, other = args
    spec = importlib.util.spec_from_file_location("kernel_other", other)
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    sys.modules["kernel_other"] = old  # numba's on-disk cache finds the module by this name
    spec.loader.exec_module(old)
    kernels = {"other": old, "this": cm.K}
    test = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))["test"][:150]
    w, ref, cmp, _ = unpack_files(Registry(reg).load_files(dom, 1)[1])
    st = CMState.build(cm_config(cmp), ref, w)
    kb = sum(map(len, test)) / 1024
    frames = [st.encode(x, 2 * len(x) + 64) for x in test]
    outs: dict[str, list[bytes]] = {}
    times: dict[str, list[float]] = {k: [] for k in kernels}
    for mod in kernels.values():  # compiled before the clock starts
        cm.K = mod
        st.decode(frames[0], len(test[0])) if decode else st.encode(test[0], 2 * len(test[0]) + 64)
    for r in range(rounds):
        for name, mod in list(kernels.items())[:: 1 if r % 2 == 0 else -1]:  # who goes first alternates
            cm.K = mod
            t = time.perf_counter()
            if decode:
                outs[name] = [st.decode(f, len(x)) for f, x in zip(frames, test)]
            else:
                outs[name] = [st.encode(x, 2 * len(x) + 64) for x in test]
            times[name].append((time.perf_counter() - t) * 1000 / kb)
            print(f"round {r + 1}: {dom} {name} kernel: {'decode' if decode else 'encode'} {times[name][-1]:.2f} ms/KB", flush=True)
    for name in kernels:
        print(f"{dom} {name} kernel: best {min(times[name]):.2f}, median {float(np.median(times[name])):.2f} ms/KB over {rounds} rounds")
    print("the same bytes from both:", outs["other"] == outs["this"], "| decoded exactly:", (outs["this"] == test) if decode else "-")
