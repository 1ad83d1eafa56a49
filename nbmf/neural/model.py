"""The neural predictor, trained in float (torch) and deployed as integers.

    previous ``context`` bytes of the record ──table P[t, byte, :] summed──▶ + b1 ──clip[0,hmax]──▶ h
    bit k of the next byte: logit = Wout[c0] · h + bout[c0]   (c0 = 1, prefix bits: a binary tree)

Inference is ``context`` rows of one integer table P[t, byte, :] added up, a requantization to int8,
and one int8 dot product per bit: cheap and exact. ``NeuralConfig.first_layer`` says how P is trained:
``table`` learns it directly (one free row per position and byte value); ``factored`` (every model
before the twenty-seventh session) learns a byte embedding and a Linear over the concatenated window, which export folds
into the same table. Training is a plain function (``train_step``) that Ray Train calls per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nbmf.config import NeuralConfig
from nbmf.neural.cm import NeuralWeights

S_ACC = 256  # fixed point of the first layer's integer accumulator
S1 = 16


class BytePredictor(nn.Module):
    row0: torch.Tensor  # a ``table`` layer's first row of each position (t * 256), a buffer

    def __init__(self, cfg: NeuralConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.first_layer == "table":  # P itself: row t * 256 + byte, summed over the window
            self.P = nn.EmbeddingBag(cfg.context * 256, cfg.hidden, mode="sum")
            nn.init.normal_(self.P.weight, std=0.02)
            self.b1 = nn.Parameter(torch.zeros(cfg.hidden))
            self.register_buffer("row0", torch.arange(cfg.context) * 256, persistent=False)
        else:
            self.emb = nn.Embedding(256, cfg.dim)
            self.l1 = nn.Linear(cfg.context * cfg.dim, cfg.hidden)
        self.out = nn.Embedding(256, cfg.hidden)
        self.out_b = nn.Embedding(256, 1)
        nn.init.normal_(self.out.weight, std=0.05)
        nn.init.zeros_(self.out_b.weight)

    def hidden(self, ctx: torch.Tensor) -> torch.Tensor:
        if self.cfg.first_layer == "table":
            rows = ctx + self.row0
            w = self.P.weight
            summed = table_sum(w, rows) if w.requires_grad and torch.is_grad_enabled() and w.device.type == "cpu" else self.P(rows)
            return torch.clamp(summed + self.b1, 0.0, self.cfg.hmax)
        x = self.emb(ctx.long()).flatten(1)
        return torch.clamp(self.l1(x), 0.0, self.cfg.hmax)

    def first_layer_table(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(P [context, 256, hidden], b1 [hidden]) in float64: what export quantizes, for either kind of layer."""
        cfg = self.cfg
        if cfg.first_layer == "table":
            return self.P.weight.detach().double().view(cfg.context, 256, cfg.hidden), self.b1.detach().double()
        emb = self.emb.weight.detach().double()  # [256, D]
        w1 = self.l1.weight.detach().double().view(cfg.hidden, cfg.context, cfg.dim)  # [H, T, D]
        return torch.einsum("htd,bd->tbh", w1, emb), self.l1.bias.detach().double()

    def forward(self, ctx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Logits [B, 8] of the 8 bits of ``target`` given ``ctx`` [B, context] (most recent first)."""
        h = self.hidden(ctx)
        # every node's logit by one matrix product, then the 8 on the target's path: 2.5x faster than gathering
        # 8 rows of Wout per byte for 8 dot products (a batched matmul of tiny matrices), backward included
        every = torch.addmm(self.out_b.weight.t(), h, self.out.weight.t())  # [B, 256]
        return every.gather(1, node_indices(target))


class TableSum(torch.autograd.Function):
    """``EmbeddingBag(mode="sum")`` over windows of rows [B, T], with a faster backward on a CPU: one ``index_add_`` per
    window position (position t names only rows t * 256 .. t * 256 + 255). The same gradient up to the order of float
    sums (on one thread, bit for bit). Torch's own backward sorts all B * T indices first: 15 of a 29 ms training step
    (one thread, 64 bytes of context, #15). On a GPU the module's own backward runs (``index_add_`` there adds
    atomically, in no fixed order)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, weight: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rows)
        ctx.weight_shape = weight.shape  # type: ignore[attr-defined]
        return nn.functional.embedding_bag(rows, weight, mode="sum")

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (rows,) = ctx.saved_tensors  # type: ignore[attr-defined]
        out = torch.zeros(ctx.weight_shape, dtype=grad.dtype, device=grad.device)  # type: ignore[attr-defined]
        grad = grad.contiguous()
        for col in rows.t().contiguous():
            out.index_add_(0, col, grad)
        return out, None


def table_sum(weight: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``TableSum`` applied: the rows [B, T] of ``weight`` summed per window, differentiable in ``weight``."""
    out: torch.Tensor = TableSum.apply(weight, rows)  # type: ignore[no-untyped-call]
    return out


def node_indices(target: torch.Tensor) -> torch.Tensor:
    """Binary-tree node (c0 = 1 followed by the bits seen so far) before each bit of ``target``."""
    shifts = torch.arange(8, 0, -1, device=target.device)
    return (target.long().unsqueeze(1) + 256) >> shifts


def target_bits(target: torch.Tensor) -> torch.Tensor:
    shifts = torch.arange(7, -1, -1, device=target.device)
    return ((target.long().unsqueeze(1) >> shifts) & 1).float()


def loss_fn(model: nn.Module, ctx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean bits per byte (sum of the 8 binary cross-entropies, in bits)."""
    logits = model(ctx, target)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target_bits(target), reduction="none")
    return bce.sum(1).mean() / float(np.log(2))


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, ctx: torch.Tensor, target: torch.Tensor) -> float:
    """One optimizer step on a batch; returns its bits per byte."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model, ctx, target)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def eval_bpb(model: nn.Module, ctx: torch.Tensor, target: torch.Tensor, batch: int = 8192) -> float:
    model.eval()
    total = 0.0
    for i in range(0, len(target), batch):
        total += float(loss_fn(model, ctx[i : i + batch], target[i : i + batch])) * len(target[i : i + batch])
    return total / max(1, len(target))


def budget_used(cfg: NeuralConfig, step: int, elapsed_s: float) -> float:
    """How much of the training budget is spent: steps or time, whichever runs out first (1.0: done)."""
    return max(step / cfg.max_steps if cfg.max_steps else 1.0, elapsed_s / cfg.time_budget_s)


def lr_factor(cfg: NeuralConfig, used: float) -> float:
    """The learning rate's multiplier when ``used`` of the budget is spent: 1 until the last ``lr_decay`` of it, then
    falling linearly to 5 % (training that ends on a falling rate codes held-out records 3 % smaller alone, #15)."""
    if cfg.lr_decay <= 0 or used <= 1 - cfg.lr_decay:
        return 1.0
    return max(0.05, (1 - used) / cfg.lr_decay)


def bad_evals_after(cfg: NeuralConfig, bad_evals: int, improved: bool, used: float) -> int:
    """Evaluations in a row without a val gain, after one more at ``used`` of the budget: an evaluation counts toward
    early stopping only once the learning rate falls. At a held rate val drifts around a plateau, and the decay that
    follows is what takes it lower (stopping at the plateau ended financial at step 7,200 with a third of its 180 s
    left, share +3.45 % against +3.94 % for the whole budget, #15)."""
    if improved:
        return 0
    return bad_evals + 1 if lr_factor(cfg, used) < 1.0 or cfg.lr_decay <= 0 else bad_evals


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer(model: BytePredictor) -> torch.optim.Optimizer:
    """Adam at the config's rate, with decoupled weight decay (AdamW) when the config asks for it, fused (one kernel
    over all parameters): the ``table`` first layer's 2 M parameters made the unfused update half of a CPU step (54
    against 28 ms per 1,024 tokens here, 64 bytes of context). Without decay the free table memorizes a small domain
    once it has seen it a few times (#15)."""
    cfg = model.cfg
    if cfg.weight_decay > 0:
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)


# ---- data --------------------------------------------------------------------------------------
def packed(records: Sequence[bytes], context: int) -> tuple[np.ndarray, np.ndarray]:
    """Records laid end to end, each behind ``context`` zero bytes (uint8), and the position of every
    target byte in it (int64): 1 + 8 bytes per token, from which ``windows_at`` cuts the windows where the
    model runs (on the GPU: the host sends 9 bytes per token, not the 136 of cut int64 windows)."""
    lens = np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))
    starts = np.cumsum(lens + context) - lens  # where each record's first byte lands
    buf = np.zeros(int(lens.sum() + context * len(records)), np.uint8)
    for s0, r in zip(starts.tolist(), records):
        buf[s0 : s0 + len(r)] = np.frombuffer(r, np.uint8)
    pos = np.repeat(starts - np.cumsum(np.concatenate([[0], lens[:-1]])), lens) + np.arange(int(lens.sum()))
    return buf, pos


def windows_at(buf: torch.Tensor, pos: torch.Tensor, context: int, widen: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(contexts [N, context] most recent first, targets [N]) at positions ``pos`` of a ``packed`` buffer,
    cut on whatever device ``buf`` lives on: int64, or with ``widen=False`` the buffer's bytes (an eighth of the
    memory; ``BytePredictor`` and ``loss_fn`` take either)."""
    offsets = torch.arange(1, context + 1, device=buf.device)
    ctx, tgt = buf[pos.unsqueeze(1) - offsets], buf[pos]
    return (ctx.long(), tgt.long()) if widen else (ctx, tgt)


def windows(records: Sequence[bytes], context: int) -> tuple[np.ndarray, np.ndarray]:
    """(contexts [N, context] most recent first, zero-padded at record start; targets [N])."""
    buf, pos = packed(records, context)
    ctx, tgt = windows_at(torch.from_numpy(buf), torch.from_numpy(pos), context)
    return ctx.numpy(), tgt.numpy()


@dataclass
class TrainResult:
    steps: int
    seconds: float
    train_bpb: float
    val_bpb: float
    tokens_per_s: float


def train(
    model: BytePredictor,
    train_records: Sequence[bytes],
    val_records: Sequence[bytes],
    progress: Callable[[str], None] = lambda s: None,
) -> TrainResult:
    """Train on one process within the config's step and time budget (the Ray job shards this)."""
    cfg = model.cfg
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # the records stay packed (9 bytes per token); each batch's windows are cut when it is drawn: cut all at
    # once they took 8 bytes per context byte per token (7 GB for 14 MiB of text at 64 bytes of context)
    buf, pos = (torch.from_numpy(a) for a in packed(train_records, cfg.context))
    vbuf, vpos = (torch.from_numpy(a) for a in packed(val_records, cfg.context))
    vctx_t, vtgt_t = windows_at(vbuf, vpos[:50000], cfg.context)
    opt = optimizer(model)
    t0 = time.time()
    step, recent = 0, []
    while (used := budget_used(cfg, step, time.time() - t0)) < 1 and len(pos):
        set_lr(opt, cfg.lr * lr_factor(cfg, used))
        idx = torch.from_numpy(rng.integers(0, len(pos), cfg.batch_size))
        recent.append(train_step(model, opt, *windows_at(buf, pos[idx], cfg.context)))
        step += 1
        if step % 200 == 0:
            progress(f"step {step}: train {np.mean(recent[-200:]):.3f} bits/byte")
    secs = time.time() - t0
    val = eval_bpb(model, vctx_t, vtgt_t) if len(vpos) else float("nan")
    return TrainResult(step, secs, float(np.mean(recent[-100:])) if recent else float("nan"), val, step * cfg.batch_size / max(secs, 1e-9))


# ---- integer export ----------------------------------------------------------------------------
@torch.no_grad()
def export_int(model: BytePredictor) -> NeuralWeights:
    """Fold and quantize: P (int), b1 (int), Wout (int8), bout (int) and the two requant multipliers."""
    cfg = model.cfg
    p_f, b1 = model.first_layer_table()  # [T, 256, H], [H]
    P = torch.round(p_f * S_ACC).long().numpy()
    B1 = torch.round(b1 * S_ACC).long().numpy()
    m1 = int(round(127 * (1 << S1) / (cfg.hmax * S_ACC)))
    wo = model.out.weight.double()
    so = 127.0 / max(float(wo.abs().max()), 1e-8)
    WO = torch.round(wo * so).long().clamp(-127, 127).numpy()
    scale2 = so * 127.0 / cfg.hmax  # integer logit units per float logit
    BO = torch.round(model.out_b.weight.double().squeeze(-1) * scale2).long().numpy()
    m2 = int(round(256 * 65536 / scale2))  # -> stretch units (logit * 256)
    c = np.ascontiguousarray
    return NeuralWeights(c(P, np.int64), c(B1, np.int64), c(WO, np.int64), c(BO, np.int64), m1, S1, m2)


def int_stretch_torch(w: NeuralWeights, ctx: torch.Tensor, nodes: torch.Tensor, device: str = "cpu", float32: bool = False) -> torch.Tensor:
    """Reference integer inference in torch: stretch values [B, 8] for contexts [B, T] and nodes [B, 8].

    With ``float32`` the products run in float32 (e.g. on a GPU); they stay exact because every
    partial sum is an integer below 2^24 (checked), which is what makes GPU encode == CPU decode.
    """
    dt = torch.float32 if float32 else torch.int64
    P = torch.as_tensor(w.P, device=device)
    T = P.shape[0]
    acc = torch.as_tensor(w.B1, device=device).unsqueeze(0).expand(ctx.shape[0], -1).to(dt)
    for t in range(T):
        acc = acc + P[t][ctx[:, t].to(device)].to(dt)
    if float32:
        assert float(acc.abs().max()) < 2**24, "first-layer sums too large for exact float32"
    acc = acc.to(torch.int64)
    h = torch.clamp((acc * w.m1) >> w.s1, 0, 127)
    WO = torch.as_tensor(w.WO, device=device)[nodes.to(device)]  # [B, 8, H]
    if float32:
        logit = torch.einsum("bkh,bh->bk", WO.float(), h.float()).to(torch.int64)
    else:
        logit = torch.einsum("bkh,bh->bk", WO, h)
    logit = logit + torch.as_tensor(w.BO, device=device)[nodes.to(device)]
    return torch.clamp((logit * w.m2) >> 16, -2047, 2047).cpu()
