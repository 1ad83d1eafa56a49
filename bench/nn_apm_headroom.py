"""Would an APM stage keyed by the neural predictor's output raise its share of the mix? (#15; measured, not kept)

    python bench/nn_apm_headroom.py DOMAIN REGISTRY [RECORDS] [VARIANT ...]     (variants: base v1 v2 v3)

Writes a scratch copy of ``nbmf/neural/kernel.py`` per variant (under a temporary directory; the shipped kernel is
not touched) with a fourth APM region of 33 x 256 rows: the predictor's stretch, quantized to 33 buckets, x c0.
    base  the region is there and unused (the shipped kernel's bytes: the check on the method)
    v1    an APM over the mixer's stretch, keyed by (bucket, c0), averaged in: p = (pm + apm1..3 + 2 apm4) / 6
    v2    an APM over the final probability, keyed by (bucket, c0): p = (p + 3 apm4) / 4
    v3    the same, p = (p + apm4) / 2
    m1    no fourth APM: mixer 1's weight set also selected by how sure the predictor is (|stretch| < 128, 512,
          1024, more: 4 times the sets)
Each variant primes the registry's version 1 of DOMAIN twice, with and without its neural input, codes the first
RECORDS (default 200) held-out records of data/corpus/DOMAIN.jsonl with each and prints the bytes and the share
(bytes without / bytes with - 1). Without the predictor the bucket is always the middle one: the stage is then an
APM keyed by c0 alone. Outputs of the thirty-fourth session's runs: bench/results/nn_apm_s34.txt.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scratch_kernels import KERNEL, shares, sub  # noqa: E402

NB = 33  # buckets of the predictor's stretch (-2047..2047, 128 wide)
MIX = "                p = (pm + pa1 + pa2 + pa3 + 2) >> 2\n"
LOOKUP4 = """                if p < 1:
                    p = 1
                elif p > 4095:
                    p = 4095
                nnq = (nn_st + 2048 + 64) >> 7
                sq4 = (stretch[p] + 2048) * 23
                wt4 = sq4 & 0xFFF
                a4i = o_apm4 + (nnq * 256 + c0) * APM_BUCKETS + (sq4 >> 12)
                pa4 = (int(T[a4i]) * (0x1000 - wt4) + int(T[a4i + 1]) * wt4) >> 16
"""
VARIANTS = {
    "base": MIX,
    "v1": """                nnq = (nn_st + 2048 + 64) >> 7
                a4i = o_apm4 + (nnq * 256 + c0) * APM_BUCKETS + (sq >> 12)
                wt4 = wt
                pa4 = (int(T[a4i]) * (0x1000 - wt) + int(T[a4i + 1]) * wt) >> 16
                p = (pm + pa1 + pa2 + pa3 + 2 * pa4 + 3) // 6
""",
    "v2": MIX + LOOKUP4 + "                p = (p + 3 * pa4 + 2) >> 2\n",
    "v3": MIX + LOOKUP4 + "                p = (p + pa4 + 1) >> 1\n",
}


def scratch_kernel(variant: str) -> str:
    src = KERNEL.read_text()
    src = sub(src, '    off["size"] = pos\n', f'    off["apm4"] = pos\n    pos += {NB} * 256 * APM_BUCKETS\n    off["size"] = pos\n')
    src = sub(
        src,
        "    o_end = o_rec + (nrec << min(bits, REC_BITS))\n",
        f"""    o_end = o_rec + (nrec << min(bits, REC_BITS))
    o_apm4 = o_end + (END_SLOTS if x_end else 0)
    if mode == PRIME and T[o_apm4] == 0:  # the identity, as CMState.build starts the other APMs
        for r in range({NB} * 256):
            for j in range(APM_BUCKETS):
                T[o_apm4 + r * APM_BUCKETS + j] = squash[max(0, min(4095, (j * 4096 - 2048 * 23) // 23 + 2048))] * 16
    a4i = 0
    wt4 = 0
""",
    )
    if variant == "m1":
        src = sub(src, "WIDE_SETS1 = 4096 ", "WIDE_SETS1 = 16384 ")
        src = sub(
            src,
            "set1 = ((((mb << 2) + (min(nseen, 15) >> 2)) << nrec) + rseen) * 256 + c0",
            "set1 = (((((0 if abs(nn_st) < 128 else (1 if abs(nn_st) < 512 else (2 if abs(nn_st) < 1024 else 3))) << 4) "
            "+ (mb << 2) + (min(nseen, 15) >> 2)) << nrec) + rseen) * 256 + c0",
        )
        return src
    src = sub(src, MIX, VARIANTS[variant])
    if variant != "base":  # the update, through the journal like the other stages
        src = sub(
            src,
            "            g = (y << 16) + (y << 7) - y - y\n",
            """            g = (y << 16) + (y << 7) - y - y
            ai4 = a4i + (wt4 >> 11)
            if journal:
                jidx[jn] = ai4
                jold[jn] = T[ai4]
                jn += 1
            t4 = int(T[ai4])
            T[ai4] = t4 + ((g - t4) >> 7)
""",
        )
    return src


if __name__ == "__main__":
    dom, reg = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    shares(dom, reg, n, sys.argv[4:] or [*VARIANTS, "m1"], scratch_kernel, "nnapm")
