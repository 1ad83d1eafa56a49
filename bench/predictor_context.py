"""What the trained predictor adds inside the kernel, by how many previous bytes it sees (#15).

    python bench/predictor_context.py DOMAIN [CONTEXT ...] [--records 200] [--first-layer KIND,...]
        [--vary FIELD=V1,V2 ...] [--steps N]
    (default: contexts 16 64, the shipped NeuralConfig, 180 s of training)

Primes the core (the shipped ``CMParams``, the domain's reference up to 32 MiB) on data/corpus/DOMAIN.jsonl's
train split, codes the first RECORDS held-out records without a neural input, then trains the shipped predictor
with each CONTEXT, each kind of first layer (``NeuralConfig.first_layer``: table, factored) and each value of every
other ``NeuralConfig`` FIELD given with --vary, e.g. ``--vary hidden=128,256 --vary lr=0.006,0.012`` (one thread,
``nbmf.neural.model.train``, seed 0, 180 s or N steps of 1,024 tokens — steps do not depend on the machine's load),
primes again with it, and prints the bits per byte of the mix, the predictor's share (core bits / mixed bits - 1),
the predictor alone and the mean encode time per KB.
"""

import argparse
import time

import numpy as np
import torch

from nbmf.config import CMParams, NeuralConfig
from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config
from nbmf.neural.model import BytePredictor, export_int, train
from nbmf.records import read_records

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("domain")
    ap.add_argument("contexts", type=int, nargs="*", default=[16, 64])
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--first-layer", default=NeuralConfig().first_layer, help="comma-separated: table, factored")
    ap.add_argument("--vary", action="append", default=[], help="FIELD=V1,V2: a NeuralConfig field and its values")
    ap.add_argument("--steps", type=int, default=0, help="train this many steps instead of 180 s")
    a = ap.parse_args()
    dom, contexts = a.domain, a.contexts
    torch.set_num_threads(1)
    sp = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))
    test = sp["test"][: a.records]
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
    print(f"{dom}: core alone {core / nb:.4f} bits/byte over {nb} held-out bytes", flush=True)
    budget = {"time_budget_s": 10**6, "max_steps": a.steps} if a.steps else {"time_budget_s": 180, "max_steps": 10**9}
    grid: list[dict[str, str]] = [{}]
    for v in a.vary:
        field, values = v.split("=", 1)
        grid = [g | {field: x} for g in grid for x in values.split(",")]
    for ctx, kind, over in [(c, k, g) for c in contexts for k in a.first_layer.split(",") for g in grid]:
        torch.manual_seed(0)
        m = BytePredictor(NeuralConfig.model_validate({"context": ctx, "first_layer": kind, **over, **budget}))
        label = "".join(f", {k} {x}" for k, x in over.items())
        r = train(m, sp["train"], sp["val"])
        w = export_int(m)
        alone = bits(CMState.build(cm, ref, w, nn_only=True))
        st = CMState.build(cm, ref, w)
        b = bits(st)
        t0 = time.time()
        for x in test:
            st.encode(x, 2 * len(x) + 64)
        enc = (time.time() - t0) / nb * 1024e3
        del st
        print(
            f"{dom} context {ctx}, {kind}{label}: {r.steps} steps, {r.steps * m.cfg.batch_size / 1e6:.1f} M tokens, "
            f"validation {r.val_bpb:.3f}; "
            f"alone {alone / nb:.4f}; mixed {b / nb:.4f} bits/byte, share {core / b - 1:+.2%}; encode {enc:.1f} ms per KB (mean)",
            flush=True,
        )
