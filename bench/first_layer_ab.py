"""The predictor's first layer learned as a free table against the factored one, by steps (#15).

    python bench/first_layer_ab.py DOMAIN [STEPS] [KINDS]      (default: 3000 table,factored)

Primes the core (the shipped ``CMParams``, the domain's train split as reference, up to 32 MiB) on
data/corpus/DOMAIN.jsonl, traces the first 300 held-out records without a neural input, then for each kind of
first layer (``NeuralConfig.first_layer``) trains the shipped predictor for STEPS steps of 1,024 tokens on one
thread (same seed; steps, not time, so the machine's load does not matter), primes again with it, and prints the
predictor's validation bits/byte, its bits/byte alone on the held-out records, the mix's and the predictor's share
(core bits / mixed bits - 1). Ideal code lengths, no frames.
"""

import sys

import numpy as np
import torch

from nbmf.config import CMParams, NeuralConfig
from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config
from nbmf.neural.model import BytePredictor, export_int, train
from nbmf.records import read_records

if __name__ == "__main__":
    dom = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    kinds = sys.argv[3].split(",") if len(sys.argv) > 3 else ["table", "factored"]
    torch.set_num_threads(1)
    sp = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))
    test = sp["test"][:300]
    ref = select_reference(sp["train"], 32 << 20)
    y = np.unpackbits(np.frombuffer(b"".join(test), np.uint8))
    nb = sum(map(len, test))
    cm = cm_config(CMParams())

    def bits(st: CMState) -> float:
        p = np.concatenate([st.trace(x)[:, 0] for x in test]) / 4096
        return float(-np.log2(np.where(y == 1, p, 1 - p)).sum())

    st = CMState.build(cm, ref)
    core = bits(st)
    del st
    print(f"{dom}: core alone {core / nb:.4f} bits/byte over {nb} held-out bytes, {len(test)} records", flush=True)
    for kind in kinds:
        torch.manual_seed(0)
        m = BytePredictor(NeuralConfig(first_layer=kind, time_budget_s=10**6, max_steps=steps))  # type: ignore[arg-type]
        r = train(m, sp["train"], sp["val"])
        w = export_int(m)
        b = bits(CMState.build(cm, ref, w))
        alone = bits(CMState.build(cm, ref, w, nn_only=True))
        print(
            f"{dom} {kind}: {r.steps} steps in {r.seconds:.0f} s, train {r.train_bpb:.3f} val {r.val_bpb:.3f}; alone {alone / nb:.4f}; "
            f"mixed {b / nb:.4f} bits/byte, share {core / b - 1:+.2%}",
            flush=True,
        )
