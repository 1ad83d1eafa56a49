"""Coding speed and size of one CM change against the model as built, in one process, interleaved round by round.

    python bench/cm_change_ab.py DOMAIN REGISTRY '{"maps": false}' [--records N] [--rounds R] [--version V]
Primes version V (default 1) of DOMAIN twice from the same weights and reference: as its artifact says, and with the
change (any ``CMParams`` field: a setting, or one that a kernel diff under test adds, as the sixty-first session's
``nibbles``, bench/results/s61/format23_kept_layout.diff.txt); then encodes and decodes the first N (default 150) held-out
records of data/corpus/DOMAIN.jsonl with each in turn (who goes first alternates), R rounds (default 4), so that a slow
spell of the machine falls on both. Prints each state's priming time, the records' coded bytes, each round, and each
side's best and median ms per KB; every round checks that the frames are the same as the first and decode exactly.
Run it alone on the machine; ``NBMF_PRIMED_CACHE`` plays no part (the states are primed here).
"""

import json
import sys
import time

import numpy as np

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def _opt(args: list[str], name: str, default: int) -> int:
    if name not in args:
        return default
    at = args.index(name)
    value = int(args[at + 1])
    del args[at : at + 2]
    return value


if __name__ == "__main__":
    args = sys.argv[1:]
    n, rounds, version = _opt(args, "--records", 150), _opt(args, "--rounds", 4), _opt(args, "--version", 1)
    if len(args) != 3:
        sys.exit(__doc__)
    dom, reg, change = args[0], args[1], json.loads(args[2])
    test = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))["test"][:n]
    kb = sum(map(len, test)) / 1024
    weights, ref, cm, _ = unpack_files(Registry(reg).load_files(dom, version)[1])
    params = {"as built": cm, "changed": cm.model_copy(update=change)}
    states, frames = {}, {}
    for name, p in params.items():
        t = time.perf_counter()
        states[name] = CMState.build(cm_config(p), ref, weights)
        frames[name] = [states[name].encode(x, 2 * len(x) + 64) for x in test]
        size = sum(map(len, frames[name]))
        print(f"{dom} {name}: primed {len(ref) / 2**20:.1f} MiB in {time.perf_counter() - t:.0f} s; {len(test)} records, "
              f"{sum(map(len, test)):,} bytes -> {size:,}", flush=True)  # fmt: skip
    base, new = (sum(map(len, frames[k])) for k in params)
    print(f"{dom} change {change}: {new:,} against {base:,} bytes ({(base - new) / base * 100:+.2f} % smaller)")
    times: dict[str, dict[str, list[float]]] = {k: {"encode": [], "decode": []} for k in params}
    for r in range(rounds):
        for name in list(params)[:: 1 if r % 2 == 0 else -1]:
            st = states[name]
            t = time.perf_counter()
            coded = [st.encode(x, 2 * len(x) + 64) for x in test]
            times[name]["encode"].append((time.perf_counter() - t) * 1000 / kb)
            t = time.perf_counter()
            back = [st.decode(f, len(x)) for f, x in zip(coded, test)]
            times[name]["decode"].append((time.perf_counter() - t) * 1000 / kb)
            assert coded == frames[name] and back == test, f"{name}: round {r + 1} coded differently or did not decode"
        said = [f"{k} encode {v['encode'][-1]:.2f} decode {v['decode'][-1]:.2f}" for k, v in times.items()]
        print(f"round {r + 1}: " + "; ".join(said), flush=True)
    for name, tt in times.items():
        print(f"{dom} {name}: " + ", ".join(f"{k} best {min(v):.2f} median {float(np.median(v)):.2f}" for k, v in tt.items())
              + f" ms per KB ({rounds} rounds, {len(test)} records)")  # fmt: skip
