"""Does the predictor earn more of the mix when it is trained on the bytes the core finds hard?

The predictor is trained on every byte alike, so most of its capacity goes to what the primed core already codes well.
This script primes the core (without the predictor) on a built model's reference, keeping the core's cost of every
byte as it goes, then trains two predictors on the reference's records for the same steps and batches: one with the
plain loss, one with each byte's loss weighted by the core's cost of it (``--power``: cost**power, mean 1). Each is
exported to integers and mixed into the core, and the bench's held-out records are coded: the share of each.

    python bench/core_weighted_training.py DOMAIN REGISTRY_DIR [N] [--steps 3000] [--power 1.0]

REGISTRY_DIR is a run of ``bench/train_path_bench.sh`` (out/trainpath-NAME, version 1). Payload bytes, no frame
headers. Writes bench/results/core_weighted_DOMAIN_pPOWER.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from nbmf.bench import split_records  # noqa: E402
from nbmf.config import NeuralConfig  # noqa: E402
from nbmf.neural import kernel as K  # noqa: E402
from nbmf.neural.cm import CMState, NeuralWeights, _weight_journal  # noqa: E402
from nbmf.neural.codec import cm_config, unpack_files  # noqa: E402
from nbmf.neural.model import BytePredictor, budget_used, export_int, lr_factor, optimizer, packed, set_lr, target_bits, windows_at  # noqa: E402
from nbmf.payload import Fidelity, to_bytes  # noqa: E402
from nbmf.records import read_records  # noqa: E402
from nbmf.registry import Registry  # noqa: E402


def core_costs(cfg_cm, reference: bytes) -> np.ndarray:
    """Bits the core alone spends on each byte of the reference while priming on it (online: each byte before it is seen)."""
    st = CMState.build(cfg_cm, b"", NeuralWeights.empty(), False, False)
    cfg = st.cfg
    lay = K.layout(cfg)
    T = np.zeros(lay["size"], dtype=np.uint32)
    T[:] = st.T  # primed on nothing: the starting state
    W = st.W0.copy()
    H = np.zeros(len(reference) + 1 + 8192, dtype=np.uint8)
    ref = np.frombuffer(reference + b"\0", dtype=np.uint8)
    tr = np.zeros((len(ref) * 8, 2), np.int64)
    j, jold = np.zeros(2, np.int64), np.zeros(2, np.uint32)  # priming's journal: empty, of the coding journal's types
    nn0 = NeuralWeights.empty()
    K.process(K.PRIME, cfg, T, W, H, 0, ref, len(ref), np.zeros(1, np.uint8), j, jold, *_weight_journal(0, 1, int(cfg[K.C_XCTX])),
              nn0.P, nn0.B1, nn0.WO, nn0.BO, tr)  # fmt: skip
    bits = np.unpackbits(ref)  # the bit each probability was for (msb first, as the kernel codes)
    p1 = tr[:, 0].astype(np.float64) / 4096.0
    cost = -np.log2(np.where(bits == 1, p1, 1.0 - p1))
    return cost.reshape(-1, 8).sum(1)[: len(reference)]


def train(cfg: NeuralConfig, buf: torch.Tensor, pos: torch.Tensor, w_tok: torch.Tensor | None, steps: int) -> BytePredictor:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = BytePredictor(cfg)
    opt = optimizer(model)
    for step in range(steps):
        set_lr(opt, cfg.lr * lr_factor(cfg, budget_used(cfg, step, 0.0)))
        idx = torch.from_numpy(rng.integers(0, len(pos), cfg.batch_size))
        ctx, tgt = windows_at(buf, pos[idx], cfg.context)
        model.train()
        opt.zero_grad(set_to_none=True)
        bce = nn.functional.binary_cross_entropy_with_logits(model(ctx, tgt), target_bits(tgt), reduction="none").sum(1)
        loss = (bce * w_tok[idx]).mean() if w_tok is not None else bce.mean()
        loss.backward()
        opt.step()
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("domain")
    ap.add_argument("registry")
    ap.add_argument("n", nargs="?", type=int, default=400)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--power", type=float, default=1.0)
    ap.add_argument("--corpus", default="data/corpus")
    a = ap.parse_args()
    torch.set_num_threads(2)
    _, test = split_records(list(read_records(f"{a.corpus}/{a.domain}.jsonl")), 0)
    test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in test][: a.n]
    _, reference, cm, _ = unpack_files(Registry(a.registry).load_files(a.domain, 1)[1])
    cfg_cm = cm_config(cm)
    t0 = time.time()
    cost = core_costs(cfg_cm, reference)
    print(
        f"{a.domain}: the core alone primes on {len(reference):,} B at {cost.mean():.3f} bits/byte ({time.time() - t0:.0f} s)", flush=True
    )
    records, costs, at = [], [], 0
    for r in reference.split(b"\0"):
        records.append(r)
        costs.append(cost[at : at + len(r)])
        at += len(r) + 1
    cfg = NeuralConfig(max_steps=a.steps, time_budget_s=1e9)
    buf, pos = (torch.from_numpy(x) for x in packed(records, cfg.context))
    c_tok = torch.from_numpy(np.concatenate(costs)).float()
    w = (c_tok + 1e-3) ** a.power
    w_tok = w / w.mean()
    orig = sum(map(len, test_b))
    out: dict = {
        "domain": a.domain,
        "registry": a.registry,
        "steps": a.steps,
        "power": a.power,
        "test_records": len(test_b),
        "test_bytes": orig,
        "core_priming_bits_per_byte": float(cost.mean()),
        "coded": {},
    }
    base = CMState.build(cfg_cm, reference, NeuralWeights.empty(), False, False)
    off = sum(len(base.encode(d, max_out=2 * len(d) + 64)) for d in test_b)
    out["coded"]["predictor off"] = off
    print(f"  predictor off: {off:,} B", flush=True)
    for name, wt in (("plain", None), ("weighted by the core's cost", w_tok)):
        t0 = time.time()
        model = train(cfg, buf, pos, wt, a.steps)
        st = CMState.build(cfg_cm, reference, export_int(model), True, False)
        on = sum(len(st.encode(d, max_out=2 * len(d) + 64)) for d in test_b)
        out["coded"][name] = on
        print(f"  {name}: {on:,} B, the predictor's share {off / on - 1:+.2%} ({time.time() - t0:.0f} s)", flush=True)
    Path(f"bench/results/core_weighted_{a.domain}_p{a.power:g}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
