"""Does the byte the predictor expects, as a context of the core, raise its share of the mix? (#15; measured)

    python bench/nn_byte_context.py DOMAIN REGISTRY [RECORDS] [VARIANT ...]     (variants: base e1 e2 e3)

The predictor enters the mixers as one stretch per bit. Here the byte it expects (the greedy path through its
binary tree: 8 dot products at the byte's start) and how sure it is along that path also key the match model's hashed
context, so the core's counters learn, primed on the reference, what follows where the predictor expects a byte.
Writes a scratch copy of ``nbmf/neural/kernel.py`` per variant (under a temporary directory; the shipped kernel is not
touched); without the predictor every variant is the shipped kernel:
    base  the shipped kernel's bytes (the check on the method)
    e1    no match: the match context is (the predictor's byte, its sureness in 4 buckets, the previous byte)
    e2    e1, and with a match: whether the predictor expects the match's byte joins the context
    e3    e1 without the sureness
Each variant primes the registry's version 1 of DOMAIN twice, with and without its neural input, codes the first
RECORDS (default 200) held-out records of data/corpus/DOMAIN.jsonl with each and prints the bytes and the share
(bytes without / bytes with - 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scratch_kernels import KERNEL, shares, sub  # noqa: E402

MATCH_CTX = "            ctx[kx] = _hash(0x6D7 + meb, lq * 256 + c1)\n"
AFTER_HIDDEN = """                hid[j] = v
        mb = 0
"""
MISSES = "  # start the misses now\n"
NEXT_BIT = "        _next_bit(T, ctx, hnext, 1, gbase, bits, ways, o_apm2, c1, o_apm3 if x_apm3 else -1, c4 & a3mask)" + MISSES


def greedy(variant: str) -> str:
    """After the hidden layer: the predictor's byte and sureness; the match context again; its misses again."""
    sure = "0" if variant == "e3" else "(0 if conf < 128 else (1 if conf < 384 else (2 if conf < 1024 else 3)))"
    agree = ""
    if variant == "e2":
        agree = "            elif nnb == meb:\n                ctx[kmt] = _hash(0x6D7 + meb, lq * 256 + c1 + (1 << 16))\n"
    return f"""                hid[j] = v
        if use_nn and x_match:
            nn_node = 1
            conf = 4095
            for _lvl in range(8):
                nn_acc = BO[nn_node]
                for j in range(nh):
                    nn_acc += WO[nn_node, j] * hid[j]
                nn_s = (nn_acc * m2) >> 16
                if abs(nn_s) < conf:
                    conf = abs(nn_s)
                nn_node = nn_node * 2 + (1 if nn_s > 0 else 0)
            nnb = nn_node - 256
            if meb == 256:
                ctx[kmt] = _hash(0x6D9 + nnb, (8 + {sure}) * 256 + c1)
{agree}{NEXT_BIT}        mb = 0
"""


def scratch_kernel(variant: str) -> str:
    src = KERNEL.read_text()
    if variant == "base":
        return src
    src = sub(src, MATCH_CTX, "            kmt = kx\n" + MATCH_CTX)
    src = sub(src, "    a3i = 0\n", "    a3i = 0\n    kmt = 0\n    meb = 256\n    lq = 0\n")
    return sub(src, AFTER_HIDDEN, greedy(variant))


if __name__ == "__main__":
    dom, reg = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    shares(dom, reg, n, sys.argv[4:] or ["base", "e1", "e2", "e3"], scratch_kernel, "nnbyte")
