"""Could a byte MLP trained on the primed core's own errors add to it? (#15, an estimate; not built)

    python bench/residual_headroom.py DOMAIN REGISTRY [--seconds 300] [--records 300] [--lr 3e-4]
                                      [--fit-test 0|1|2|3] [--trace-seconds 300] [--base 0|1]

Traces records through the registry's production model of DOMAIN (``CMState.trace``; base 0: the core without
its neural input), then trains a correction of the core's final stretch st, per bit,
    logit = st * (1 + u[n].h + a[n]) + v[n].h + b[n] + hinges of st per node n,
with h a 128-wide hidden layer over the previous 64 bytes and n the bit's node in the byte's binary tree.
It counts bits on the first RECORDS test records (every 2 s, and at the end) against the core alone.
What it is fitted on (records the core has not seen):
    --fit-test 0   the val split
    --fit-test 1   the test records after the first RECORDS (later sources)
    --fit-test 2   odd test records; even ones are counted (the same sources on both sides: optimistic)
    --fit-test 3   cross-fitted: a core primed on the first half of the train split traces the second half
Outputs of the 2026-12-02 runs: bench/results/residual_headroom_general_fit*.txt.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry

CTX = 64


def trace_all(st: CMState, recs: list[bytes], budget: float) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    t, out, nn_ = time.time(), [], []
    done = []
    for r in recs:
        if time.time() - t > budget:
            break
        tr = st.trace(r)
        out.append(tr[:, 0])
        nn_.append(tr[:, 1])
        done.append(r)
    print(f"traced {len(done)} records, {sum(map(len, done))} bytes in {time.time() - t:.0f} s", flush=True)
    return done, np.concatenate(out), np.concatenate(nn_)


def windows(recs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for r in recs:
        a = np.frombuffer(r, np.uint8).astype(np.int64)
        p = np.concatenate([np.zeros(CTX, np.int64), a])
        idx = np.arange(len(a))[:, None] + np.arange(CTX)[None, :]
        xs.append(p[idx][:, ::-1].copy())  # [n, CTX], column 0 = previous byte
        ys.append(a)
    return np.concatenate(xs), np.concatenate(ys)


class Residual(nn.Module):
    def __init__(self, hidden: int = 128, dim: int = 16) -> None:
        super().__init__()
        self.emb = nn.Embedding(256 * CTX, dim)
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w1 = nn.Linear(CTX * dim, hidden, bias=False)
        self.u = nn.Embedding(256, hidden)
        self.v = nn.Embedding(256, hidden)
        self.a = nn.Embedding(256, 1)
        self.b = nn.Embedding(256, 1)
        self.s2 = nn.Embedding(256, 4)
        for e in (self.u, self.v):
            nn.init.normal_(e.weight, std=0.01)
        for e in (self.a, self.b, self.s2):
            nn.init.zeros_(e.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor, st: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        off = torch.arange(CTX) * 256
        e = self.emb(x + off).reshape(x.shape[0], -1)
        h = torch.clamp(self.w1(e) + self.b1, 0, 4)  # [B, H]
        nodes = (y.unsqueeze(-1) + 256) >> torch.arange(8, 0, -1)  # [B, 8]
        scale = 1 + torch.einsum("bkh,bh->bk", self.u(nodes), h) + self.a(nodes).squeeze(-1)
        bias = torch.einsum("bkh,bh->bk", self.v(nodes), h) + self.b(nodes).squeeze(-1)
        s2 = self.s2(nodes)  # nonlinear in st: hinge terms
        nl = s2[..., 0] * F.relu(st - 2) + s2[..., 1] * F.relu(-st - 2) + s2[..., 2] * F.relu(st - 5) + s2[..., 3] * F.relu(-st - 5)
        lg = st * scale + bias + nl
        bits = ((y.unsqueeze(-1) >> torch.arange(7, -1, -1)) & 1).float()
        return lg, bits


def stretch(p12: np.ndarray) -> np.ndarray:
    p = p12.astype(np.float64) / 4096
    return np.clip(np.log(p / (1 - p)), -8, 8).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("domain")
    ap.add_argument("registry")
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--base", type=int, default=0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--fit-test", type=int, default=1)
    ap.add_argument("--trace-seconds", type=float, default=300)
    a = ap.parse_args()
    torch.set_num_threads(2)
    sp = split_bytes(list(read_records(f"data/corpus/{a.domain}.jsonl")))
    reg = Registry(a.registry)
    version = reg.channels(a.domain).production
    w, ref, cm, _ = unpack_files(reg.load_files(a.domain, version)[1])
    t = time.time()
    st = CMState.build(cm_config(cm), ref, w, use_nn=bool(a.base))
    print(f"primed in {time.time() - t:.0f} s", flush=True)
    if a.fit_test == 2:  # interleaved: odd records fit, even records count (same sources on both sides)
        sp["test"] = sp["test"][0::2][: a.records] + sp["test"][1::2]
    test = sp["test"][: a.records]
    test, pt, _ = trace_all(st, test, 1e9)
    if a.fit_test == 3:  # cross-fitted: a core primed on the first half of train traces the second half
        tr = sp["train"]
        half = len(tr) // 2
        t = time.time()
        st_a = CMState.build(cm_config(cm), b"\0".join(tr[:half])[-len(ref) :], w, use_nn=bool(a.base))
        print(f"primed half A in {time.time() - t:.0f} s", flush=True)
        val, pv, _ = trace_all(st_a, tr[half:], a.trace_seconds)
        del st_a
    else:
        val, pv, _ = trace_all(st, sp["test"][a.records :] if a.fit_test else sp["val"], a.trace_seconds)
    if a.base == 0:
        st1 = CMState.build(cm_config(cm), ref, w, use_nn=True)
        _, pt1, _ = trace_all(st1, test, 1e9)
        del st1
    del st

    xv, yv = windows(val)
    sv = stretch(pv).reshape(-1, 8)
    xt, yt = windows(test)
    stt = stretch(pt).reshape(-1, 8)
    Xv, Yv, Sv = torch.from_numpy(xv), torch.from_numpy(yv), torch.from_numpy(sv)
    Xt, Yt, St = torch.from_numpy(xt), torch.from_numpy(yt), torch.from_numpy(stt)

    def bits(p12: np.ndarray, y: np.ndarray) -> float:
        yb = np.unpackbits(y.astype(np.uint8))
        p = p12.astype(np.float64) / 4096
        return float(-np.log2(np.where(yb == 1, p, 1 - p)).sum())

    nbytes = len(yt)
    core = bits(pt, yt)
    print(f"{a.domain}: test {len(test)} records {nbytes} bytes; val {len(val)} records {len(yv)} bytes")
    print(f"  base (neural input {a.base}) {core / nbytes:.4f} bits/byte")
    if a.base == 0:
        k = bits(pt1, yt)
        print(f"  kernel with MLP          {k / nbytes:.4f}  share {core / k - 1:+.2%}")
    # baseline check: evaluating the untrained residual gives the base
    torch.manual_seed(0)
    m = Residual()
    opt = torch.optim.Adam(m.parameters(), lr=a.lr)
    rng = np.random.default_rng(0)
    t0, step = time.time(), 0
    tr_l = []

    @torch.no_grad()
    def evaluate() -> float:
        tot = 0.0
        for i in range(0, len(Yt), 8192):
            lg, b = m(Xt[i : i + 8192], Yt[i : i + 8192], St[i : i + 8192])
            tot += float(F.binary_cross_entropy_with_logits(lg.clamp(-8.3, 8.3), b, reduction="sum")) / np.log(2)
        return tot

    print(f"  untrained residual       {evaluate() / nbytes:.4f}", flush=True)
    while time.time() - t0 < a.seconds:
        idx = torch.from_numpy(rng.integers(0, len(Yv), 256))
        lg, b = m(Xv[idx], Yv[idx], Sv[idx])
        loss = F.binary_cross_entropy_with_logits(lg, b, reduction="sum") / 256
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        base_l = F.binary_cross_entropy_with_logits(Sv[idx].clamp(-8.3, 8.3), b, reduction="sum").item() / 256
        tr_l.append((loss.item(), base_l))
        if step % 2000 == 0:
            e = evaluate()
            tl = np.array(tr_l[-2000:]).mean(0) / np.log(2)
            print(f"  train {tl[0]:.4f} vs base {tl[1]:.4f} bits/byte")
            print(f"  {time.time() - t0:.0f} s step {step}: test {e / nbytes:.4f}  share {core / e - 1:+.2%}", flush=True)
    e = evaluate()
    print(f"  residual final           {e / nbytes:.4f}  share {core / e - 1:+.2%}  ({step} steps, {step * 256} tokens)")


if __name__ == "__main__":
    main()
