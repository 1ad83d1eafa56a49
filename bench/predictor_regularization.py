"""Does regularization keep the predictor from memorizing a small domain? (#15, thirty-fifth session)

    python bench/predictor_regularization.py train DOMAIN TOKENS WEIGHT_DECAY DROPOUT   # one run, val every 1/8
    python bench/predictor_regularization.py mix DOMAIN RECORDS none|MODEL.pt ...        # mixed into the primed core

``train`` trains the shipped predictor (``NeuralConfig()`` but for the two knobs) from scratch for TOKENS tokens on
the train side of data/corpus/DOMAIN.jsonl, the shipped batch and learning-rate schedule by steps, and prints JSON
lines: tokens so far, the train loss of the last 200 steps and the float predictor's val bits/byte (200 K tokens of the
val split). WEIGHT_DECAY > 0 is AdamW (``NeuralConfig.weight_decay``); DROPOUT drops each context position's row with
that probability in training (inverted dropout; not in the product). Saves /tmp/predictor_reg_DOMAIN_TOKENS_WD_DROP.pt.
``mix`` measures saved predictors as ``bench/compute_curve.py --full-reference`` does: the core primed on the
product's reference, the first RECORDS held-out records coded alone with a frame of version 5 (6-byte header, the end
coded); ``none`` is the core without a neural input.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from gpu_predictor_bench import measure
from torch import nn

from nbmf.config import ModelConfig, NeuralConfig
from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.model import BytePredictor, eval_bpb, export_int, lr_factor, optimizer, packed, train_step, windows, windows_at
from nbmf.records import read_records


class DroppedPositions(BytePredictor):
    """The shipped predictor whose context positions are dropped in training (each row with probability ``drop``)."""

    def __init__(self, cfg: NeuralConfig, drop: float) -> None:
        super().__init__(cfg)
        self.drop = drop

    def hidden(self, ctx: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.drop > 0):
            return super().hidden(ctx)
        rows = ctx + self.row0
        keep = (torch.rand(rows.shape) >= self.drop).float() / (1 - self.drop)
        summed = nn.functional.embedding_bag(rows, self.P.weight, mode="sum", per_sample_weights=keep)
        return torch.clamp(summed + self.b1, 0.0, self.cfg.hmax)


def train(domain: str, tokens: int, wd: float, drop: float) -> None:
    cfg = NeuralConfig(weight_decay=wd)
    sp = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))
    torch.manual_seed(cfg.seed)
    model = DroppedPositions(cfg, drop)
    opt = optimizer(model)
    buf, pos = (torch.from_numpy(a) for a in packed(sp["train"], cfg.context))
    vc, vt = windows(sp["val"], cfg.context)
    vctx, vtgt = torch.from_numpy(vc[:200_000]), torch.from_numpy(vt[:200_000])
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = tokens // cfg.batch_size
    t0, recent, every = time.time(), [], max(1, steps // 8)
    for s in range(steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg, s / steps)
        at = pos[torch.randint(0, len(pos), (cfg.batch_size,), generator=gen)]
        recent.append(train_step(model, opt, *windows_at(buf, at, cfg.context)))
        if (s + 1) % every == 0 or s == steps - 1:
            row = {"domain": domain, "wd": wd, "drop": drop, "tokens_M": round((s + 1) * cfg.batch_size / 1e6, 1)}
            row |= {"train": round(float(np.mean(recent[-200:])), 4), "val": round(eval_bpb(model, vctx, vtgt), 4)}
            print(json.dumps(row | {"s": round(time.time() - t0)}), flush=True)
    torch.save(model.state_dict(), f"/tmp/predictor_reg_{domain}_{tokens}_{wd}_{drop}.pt")


def mix(domain: str, records: int, paths: list[str]) -> None:
    sp = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))
    ref = select_reference(sp["train"], ModelConfig().reference_bytes)
    test = sp["test"][:records]
    for path in paths:
        weights = None
        if path != "none":
            model = BytePredictor(NeuralConfig())
            model.load_state_dict(torch.load(path))
            weights = export_int(model)
        print(json.dumps({"model": None if path == "none" else path} | measure(weights, ref, test, header=6, ends=True)), flush=True)


if __name__ == "__main__":
    cmd, domain = sys.argv[1], sys.argv[2]
    if cmd == "train":
        train(domain, int(float(sys.argv[3])), float(sys.argv[4]), float(sys.argv[5]))
    else:
        mix(domain, int(sys.argv[3]), sys.argv[4:])
