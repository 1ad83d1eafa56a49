"""Would hashed word features make the trained predictor earn more of the mix? (#15, an estimate)

    python bench/word_features_headroom.py train DOMAIN OUT.npz [--words] [--seconds 170] [--records 200]
    python bench/word_features_headroom.py mix DOMAIN REGISTRY A.npz B.npz ... [--records 200]

``train`` trains the product's predictor (64 bytes of context, a free table P[t, byte], 128 hidden, AdamW 0.1) on
one thread for SECONDS on data/corpus/DOMAIN.jsonl's train split; with ``--words`` its hidden layer also adds one
free row per hashed word feature: the word being read, (previous word, word being read) and (the two words before,
word being read), 2^17 rows each, learned by SparseAdam. It writes its logit for every bit of the first RECORDS
held-out records. Run a plain and a ``--words`` train side by side (one core each) so that both get the same compute.
``mix`` traces the same records through REGISTRY's model of DOMAIN (version 1: core alone and core + its kernel predictor,
``CMState.trace``) and mixes each saved predictor into the core offline (``recurrent_headroom._mix``): the
share each would earn, against the kernel predictor's offline share as the calibration.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from numba import njit
from torch import nn

from nbmf.config import NeuralConfig
from nbmf.neural.build import split_bytes
from nbmf.neural.model import BytePredictor, node_indices, packed, table_sum, target_bits, windows_at
from nbmf.records import read_records

WBITS = 17
NFEAT = 3


@njit(cache=False)
def word_features(buf: np.ndarray) -> np.ndarray:
    """Rows [len(buf), 3] of the word features known before each byte (records are separated by zero bytes)."""
    out = np.zeros((len(buf), NFEAT), np.int64)
    cw, pw, ppw = 0, 0, 0
    mask = (1 << WBITS) - 1
    for i in range(len(buf)):
        h1 = (cw * 0x9E3779B1 + 1) & 0xFFFFFFFF
        h2 = ((h1 ^ (pw * 0x85EBCA77)) * 0xC2B2AE3D + 2) & 0xFFFFFFFF
        h3 = ((h2 ^ (ppw * 0x27D4EB2F)) * 0x165667B1 + 3) & 0xFFFFFFFF
        out[i, 0] = (h1 >> 8) & mask
        out[i, 1] = ((h2 >> 8) & mask) + (1 << WBITS)
        out[i, 2] = ((h3 >> 8) & mask) + (2 << WBITS)
        c = buf[i]
        if (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c >= 128:
            cw = ((cw + c + 1) * 0x2F0B3A49) & 0xFFFFFFFF
        elif cw != 0:
            ppw, pw, cw = pw, cw, 0
        if c == 0:
            cw, pw, ppw = 0, 0, 0
    return out


class WordPredictor(BytePredictor):
    def __init__(self, cfg: NeuralConfig, words: bool) -> None:
        super().__init__(cfg)
        self.words = words
        if words:
            self.W = nn.EmbeddingBag(NFEAT << WBITS, cfg.hidden, mode="sum", sparse=True)
            nn.init.zeros_(self.W.weight)

    def logits(self, ctx: torch.Tensor, feats: torch.Tensor | None, target: torch.Tensor) -> torch.Tensor:
        rows = ctx + self.row0
        summed = (table_sum(self.P.weight, rows) if torch.is_grad_enabled() else self.P(rows)) + self.b1
        if self.words and feats is not None:
            summed = summed + self.W(feats)
        h = torch.clamp(summed, 0.0, self.cfg.hmax)
        every = torch.addmm(self.out_b.weight.t(), h, self.out.weight.t())
        return every.gather(1, node_indices(target))


def train(domain: str, out: str, words: bool, seconds: float, records: int) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = NeuralConfig()
    sp = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))
    buf_np, pos_np = packed(sp["train"], cfg.context)
    feats_all = torch.from_numpy(word_features(buf_np))
    buf, pos = torch.from_numpy(buf_np), torch.from_numpy(pos_np)
    m = WordPredictor(cfg, words)
    dense = [p for n, p in m.named_parameters() if not n.startswith("W.")]
    opts: list[torch.optim.Optimizer] = [torch.optim.AdamW(dense, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)]
    if words:
        opts.append(torch.optim.SparseAdam(list(m.W.parameters()), lr=cfg.lr))
    t0, step, recent = time.time(), 0, []
    while (used := (time.time() - t0) / seconds) < 1:
        f = 1.0 if used < 1 - cfg.lr_decay else max(0.05, (1 - used) / cfg.lr_decay)
        for o in opts:
            for g in o.param_groups:
                g["lr"] = cfg.lr * f
        idx = torch.from_numpy(rng.integers(0, len(pos), cfg.batch_size))
        p = pos[idx]
        ctx, tgt = windows_at(buf, p, cfg.context)
        lg = m.logits(ctx, feats_all[p] if words else None, tgt)
        loss = nn.functional.binary_cross_entropy_with_logits(lg, target_bits(tgt), reduction="none").sum(1).mean() / np.log(2)
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opts:
            o.step()
        recent.append(float(loss.detach()))
        step += 1
        if step % 1000 == 0:
            print(f"{time.time() - t0:.0f} s step {step}: train {np.mean(recent[-1000:]):.3f} bits/byte", flush=True)
    print(f"trained {step} steps ({step * cfg.batch_size / (time.time() - t0):.0f} tokens/s)", flush=True)
    test = sp["test"][:records]
    tbuf, tpos = packed(test, cfg.context)
    tfe = torch.from_numpy(word_features(tbuf))
    with torch.no_grad():
        ctx, tgt = windows_at(torch.from_numpy(tbuf), torch.from_numpy(tpos), cfg.context)
        lg = m.logits(ctx, tfe[torch.from_numpy(tpos)] if words else None, tgt)
        bits = target_bits(tgt)
        alone = float(nn.functional.binary_cross_entropy_with_logits(lg, bits, reduction="sum")) / np.log(2) / len(tgt)
    print(f"alone on {records} held-out records: {alone:.4f} bits/byte", flush=True)
    np.savez(out, logits=lg.reshape(-1).numpy().astype(np.float64), alone=alone, steps=step)


def mix(domain: str, registry: str, saved: list[str], records: int) -> None:
    import sys

    sys.path.insert(0, "bench")
    from recurrent_headroom import _mix, ideal_cost, layout, stretch_of

    from nbmf.neural.cm import CMState
    from nbmf.neural.codec import cm_config, unpack_files
    from nbmf.registry import Registry

    w, ref, cm, _ = unpack_files(Registry(registry).load_files(domain, 1)[1])

    sp = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))
    test = sp["test"][:records]
    tr: dict[str, np.ndarray] = {}
    for use_nn in (False, True):
        st = CMState.build(cm_config(cm), ref, w, use_nn=use_nn)
        trs = [st.trace(x) for x in test]
        tr[f"p{int(use_nn)}"] = np.concatenate([t[:, 0] for t in trs])
        if use_nn:
            tr["nn"] = np.concatenate([t[:, 1] for t in trs])
        del st
    y, starts, lens, half, ev, nbytes = layout(test)
    s0 = stretch_of(tr["p0"])
    one = np.ones_like(s0)
    core, kernel = ideal_cost(tr["p0"], y, ev), ideal_cost(tr["p1"], y, ev)
    print(f"{domain}: {len(test) - half} counted records, {nbytes} bytes (bits/byte; share = core / with - 1)")
    print(f"  core alone (no neural input)     {core / nbytes:.4f}")
    print(f"  core + its predictor, kernel     {kernel / nbytes:.4f}  share {core / kernel - 1:+.2%}")
    s1 = stretch_of(tr["p1"])
    nn_s = np.clip(tr["nn"] / 256.0, -8, 8)
    rows = {"core + its predictor, offline": [nn_s]}
    b = _mix(np.stack([s1, one], 1), y, starts, lens, 0.002, half)
    print(f"  {'kernel output remixed alone':40s} {b / nbytes:.4f}  share {core / b - 1:+.2%}")
    b = _mix(np.stack([s1, nn_s, one], 1), y, starts, lens, 0.002, half)
    print(f"  {'kernel output + its predictor again':40s} {b / nbytes:.4f}  share {core / b - 1:+.2%}")
    for f in saved:
        z = np.load(f)
        print(f"  {f}: alone {float(z['alone']):.4f} bits/byte on all {records} records, {int(z['steps'])} steps")
        rows[f"core + {f}, offline"] = [np.clip(z["logits"], -8, 8)]
    for name, extra in rows.items():
        b = _mix(np.stack([s0, *extra, one], 1), y, starts, lens, 0.002, half)
        print(f"  {name:40s} {b / nbytes:.4f}  share {core / b - 1:+.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["train", "mix"])
    ap.add_argument("domain")
    ap.add_argument("rest", nargs="+")
    ap.add_argument("--words", action="store_true")
    ap.add_argument("--seconds", type=float, default=170)
    ap.add_argument("--records", type=int, default=200)
    a = ap.parse_args()
    if a.what == "train":
        train(a.domain, a.rest[0], a.words, a.seconds, a.records)
    else:
        mix(a.domain, a.rest[0], a.rest[1:], a.records)


if __name__ == "__main__":
    main()
