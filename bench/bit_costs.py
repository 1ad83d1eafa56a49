"""Where a trained model's bits go on held-out records (#15, thirty-sixth session).

    python bench/bit_costs.py REGISTRY DOMAIN RECORDS

Loads version 1 of DOMAIN from REGISTRY, traces the first RECORDS held-out records through the whole codec (the
kernel's per-bit final probability, ``CMState.trace``; payload bits only, no header or end) and prints JSON: the
ideal cost, the share of bits and of cost at the 12-bit probability's limit (p = 1/4096 or 4095/4096, the side that
happened), by how sure the codec was (|log2 odds|), by byte class, and for JSON records by the key whose value a byte
is in (the 14 costliest).
"""

from __future__ import annotations

import collections
import json
import sys

import numpy as np

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def json_keys(record: bytes) -> list[str]:
    """The key whose value each byte of a JSON record is in ("-": none), by a scan like the kernel's JSON context."""
    out, in_str, esc, cur, last, key = [], False, False, bytearray(), b"", "-"
    for c in record:
        out.append(key)
        if in_str:
            if esc:
                esc = False
            elif c == 92:
                esc = True
            elif c == 34:
                in_str, last = False, bytes(cur)
            else:
                cur.append(c)
        elif c == 34:
            in_str, cur = True, bytearray()
        elif c == 58:
            key = last.decode(errors="replace")
        elif c in (44, 91, 93, 123, 125):
            key = "-"
    return out


def main() -> None:
    reg, dom, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    _, files = Registry(reg).load_files(dom, 1)
    weights, ref, cm, _ = unpack_files(files)
    state = CMState.build(cm_config(cm), ref, weights, use_nn=True)
    test = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))["test"][:n]
    p = np.concatenate([state.trace(r)[:, 0] for r in test]).astype(np.float64)
    byt = np.concatenate([np.frombuffer(r, np.uint8) for r in test])
    y = np.unpackbits(byt)
    cost = -np.log2(np.where(y == 1, p / 4096, 1 - p / 4096))
    tot = cost.sum()

    def pct(m: np.ndarray) -> float:
        return round(100 * float(m.mean()), 1)

    def cpct(m: np.ndarray) -> float:
        return round(100 * float(cost[m].sum() / tot), 2)

    at_limit = ((p >= 4095) & (y == 1)) | ((p <= 1) & (y == 0))
    out: dict[str, object] = {"domain": dom, "records": len(test), "bits_per_byte": round(8 * tot / len(y), 4)}
    out["at_the_limit"] = {"bits_%": pct(at_limit), "cost_%": cpct(at_limit)}
    odds = np.abs(np.log2(np.maximum(p, 1) / np.maximum(4096 - p, 1)))
    buckets = ((0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 13))
    sure = {f"{lo}-{hi}": (odds >= lo) & (odds < hi) for lo, hi in buckets}
    out["by_certainty"] = {k: {"bits_%": pct(m), "cost_%": cpct(m)} for k, m in sure.items()}
    per_byte = cost.reshape(-1, 8).sum(1)
    digit = (byt >= 48) & (byt <= 57)
    letter = ((byt | 32) >= 97) & ((byt | 32) <= 122)
    classes = {"digit": digit, "letter": letter, "other": ~(digit | letter)}
    out["by_byte_class"] = {
        k: {"bytes_%": pct(m), "cost_%": round(100 * float(per_byte[m].sum() / tot), 1), "bits_each": round(float(per_byte[m].mean()), 3)}
        for k, m in classes.items()
    }
    if test and test[0][:1] in (b"{", b"["):
        by_key: collections.Counter[str] = collections.Counter()
        count: collections.Counter[str] = collections.Counter()
        for k, c in zip((k for r in test for k in json_keys(r)), per_byte.tolist()):
            by_key[k] += c
            count[k] += 1
        out["by_json_key"] = {
            k: {"cost_%": round(100 * v / tot, 1), "bytes": count[k], "bits_each": round(v / count[k], 2)}
            for k, v in by_key.most_common(14)
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
