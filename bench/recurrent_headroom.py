"""How much could a recurrent predictor over the whole record add to the primed core? (#15, an estimate)

    python bench/recurrent_headroom.py DOMAIN REGISTRY [--hidden 256] [--seconds 240] [--records 200] [--threads 1]

1. Traces the first RECORDS held-out records of data/corpus/DOMAIN.jsonl through the registry's production
   model of DOMAIN, primed on its own reference: the final probability of every bit without the neural input
   (the core alone) and with it, and the MLP's stretch (``CMState.trace``).
2. Trains a byte GRU (float, torch) over whole train records -- state reset at each record, truncated
   backpropagation through time in chunks of 128 bytes, the MLP's binary-tree output -- for SECONDS on THREADS
   threads, and computes its logit for every bit of the same held-out records.
3. Mixes offline, float: p = squash(w . (stretch(p_core), logit, 1)), weights per bit position learned online.
   The first half of the records trains the starting weights; each record of the second half starts from them
   (as the kernel's mixers start each record from their primed weights) and is counted.
The same offline mix of the MLP's stretch calibrates the estimate against the kernel's real gain (the kernel
mixes the predictor inside every mixer with context-selected weights, so it can gain more than a final mix).
Prints bits/byte of each and the share: core bits / bits with the predictor - 1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from numba import njit

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def trace(domain: str, registry: str, test: list[bytes]) -> dict[str, np.ndarray]:
    reg = Registry(registry)
    version = reg.channels(domain).production
    assert version is not None, f"{registry} has no production model of {domain}"
    w, ref, cm, _ = unpack_files(reg.load_files(domain, version)[1])
    out: dict[str, np.ndarray] = {}
    for use_nn in (False, True):
        t = time.time()
        st = CMState.build(cm_config(cm), ref, w, use_nn=use_nn)
        print(f"primed {len(ref)} reference bytes (neural input: {use_nn}) in {time.time() - t:.0f} s", flush=True)
        trs = [st.trace(x) for x in test]
        out[f"p{int(use_nn)}"] = np.concatenate([t[:, 0] for t in trs])
        if use_nn:
            out["nn"] = np.concatenate([t[:, 1] for t in trs])
        del st
    return out


class GRUPredictor(nn.Module):
    def __init__(self, hidden: int, dim: int = 32) -> None:
        super().__init__()
        self.emb = nn.Embedding(256, dim)
        self.rnn = nn.GRU(dim, hidden, batch_first=True)
        self.out = nn.Embedding(256, hidden)
        self.ob = nn.Embedding(256, 1)
        nn.init.normal_(self.out.weight, std=0.05)
        nn.init.zeros_(self.ob.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        o, h = self.rnn(self.emb(x), h)  # [B, L, H]
        nodes = (y.long().unsqueeze(-1) + 256) >> torch.arange(8, 0, -1)  # [B, L, 8] binary-tree nodes
        lg = torch.einsum("blkh,blh->blk", self.out(nodes), o) + self.ob(nodes).squeeze(-1)
        bits = ((y.long().unsqueeze(-1) >> torch.arange(7, -1, -1)) & 1).float()
        return lg, bits, h


def _batch(recs: list[bytes], cap: int = 4096) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = min(cap, max(len(r) for r in recs))
    x, y, mk = np.zeros((len(recs), n), np.int64), np.zeros((len(recs), n), np.int64), np.zeros((len(recs), n), np.float32)
    for i, r in enumerate(recs):
        a = np.frombuffer(r[:n], np.uint8)
        x[i, 1 : len(a)], y[i, : len(a)], mk[i, : len(a)] = a[:-1], a, 1
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mk)


def train_gru(train: list[bytes], hidden: int, seconds: float, batch: int = 32, chunk: int = 128) -> GRUPredictor:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = GRUPredictor(hidden)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    t0, tokens, steps, recent = time.time(), 0, 0, []
    while time.time() - t0 < seconds:
        x, y, mk = _batch([train[i] for i in rng.integers(0, len(train), batch)])
        h = None
        for c in range(0, x.shape[1], chunk):
            if time.time() - t0 >= seconds:
                break
            lg, bits, h = m(x[:, c : c + chunk], y[:, c : c + chunk], h)
            h = h.detach()
            mm = mk[:, c : c + chunk]
            loss = (F.binary_cross_entropy_with_logits(lg, bits, reduction="none").sum(-1) * mm).sum() / mm.sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            tokens, steps = tokens + int(mm.sum()), steps + 1
            recent.append(loss.item() / np.log(2))
            if steps % 200 == 0:
                print(f"{time.time() - t0:.0f} s, step {steps}, {tokens} tokens: train {np.mean(recent[-200:]):.3f} bits/byte", flush=True)
    secs = time.time() - t0
    print(f"trained {steps} steps, {tokens} tokens, {tokens / secs:.0f} tokens/s", flush=True)
    return m


@torch.no_grad()
def gru_logits(m: GRUPredictor, test: list[bytes]) -> np.ndarray:
    m.eval()
    out = []
    for r in test:
        x, y, _ = _batch([r], cap=len(r))
        lg, _, _ = m(x, y)
        out.append(lg[0, : len(r)].reshape(-1).numpy())
    return np.concatenate(out)


@njit(cache=False)
def _mix(S: np.ndarray, y: np.ndarray, starts: np.ndarray, lens: np.ndarray, lr: float, first_counted: int) -> float:
    W = np.zeros((8, S.shape[1]))
    W[:, 0] = 1.0
    W0 = W.copy()
    bits = 0.0
    for r in range(len(starts)):
        if r == first_counted:
            W0[:] = W
        if r >= first_counted:
            W[:] = W0
        for k in range(lens[r] * 8):
            i = starts[r] + k
            d = 0.0
            for j in range(S.shape[1]):
                d += W[k % 8, j] * S[i, j]
            p = min(max(1 / (1 + np.exp(-min(max(d, -12.0), 12.0))), 1 / 4096), 4095 / 4096)
            if r >= first_counted:
                bits += -np.log2(p if y[i] else 1 - p)
            for j in range(S.shape[1]):
                W[k % 8, j] += lr * (y[i] - p) * S[i, j]
    return bits


def layout(test: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, slice, int]:
    """The offline mix's layout of ``test``: its bits, each record's first bit, the lengths, the first counted record
    (the second half is counted), the counted bits and the counted bytes."""
    lens = np.array([len(x) for x in test])
    y = np.unpackbits(np.frombuffer(b"".join(test), np.uint8)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]) * 8
    half = len(test) // 2
    return y, starts, lens, half, slice(int(starts[half]), len(y)), int(lens[half:].sum())


def ideal_cost(p12: np.ndarray, y: np.ndarray, ev: slice) -> float:
    """Bits the 12-bit probabilities ``p12`` of a one would cost on the counted bits ``ev`` of ``y``."""
    p = p12[ev] / 4096
    return float(-np.log2(np.where(y[ev] == 1, p, 1 - p)).sum())


def stretch_of(p12: np.ndarray) -> np.ndarray:
    """ln(p / (1 - p)) of 12-bit probabilities, clipped to +-8 (the offline mix's input)."""
    p = p12.astype(np.float64) / 4096
    return np.clip(np.log(p / (1 - p)), -8, 8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("domain")
    ap.add_argument("registry")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sp = split_bytes(list(read_records(f"data/corpus/{a.domain}.jsonl")))
    test = sp["test"][: a.records]
    tr = trace(a.domain, a.registry, test)
    m = train_gru(sp["train"], a.hidden, a.seconds)
    lg = np.clip(gru_logits(m, test), -8, 8).astype(np.float64)

    y, starts, lens, half, ev, nbytes = layout(test)

    def cost(p12: np.ndarray) -> float:
        return ideal_cost(p12, y, ev)

    s0 = stretch_of(tr["p0"])
    one = np.ones_like(s0)
    core, kernel = cost(tr["p0"]), cost(tr["p1"])
    gru_alone = float(-(y * np.log2(1 / (1 + np.exp(-lg))) + (1 - y) * np.log2(1 - 1 / (1 + np.exp(-lg))))[ev].sum())
    print(f"{a.domain}: {len(test) - half} counted records, {nbytes} bytes (bits/byte; share = core / with - 1)")
    print(f"  core alone (no neural input)     {core / nbytes:.4f}")
    print(f"  core + MLP, in the kernel        {kernel / nbytes:.4f}  share {core / kernel - 1:+.2%}")
    print(f"  GRU {a.hidden} alone                   {gru_alone / nbytes:.4f}")
    mixes = {"core remixed": [], "core + MLP, offline mix": [np.clip(tr["nn"] / 256.0, -8, 8)], f"core + GRU {a.hidden}, offline mix": [lg]}
    for name, extra in mixes.items():
        b = _mix(np.stack([s0, *extra, one], 1), y, starts, lens, 0.002, half)
        print(f"  {name:32s} {b / nbytes:.4f}  share {core / b - 1:+.2%}")


if __name__ == "__main__":
    main()
