"""The predictor's learning-rate schedule, measured alone and in the mix (#15).

    python bench/lr_schedule.py DOMAIN [--registry REG] [--steps 3000] [--records 400] [NAME:LR:SCHEDULE ...]

Trains the predictor (``NeuralConfig`` defaults, one thread, the same seed and batches) for STEPS steps per
schedule on the train split of data/corpus/DOMAIN.jsonl, and prints its bits/byte alone on 300 val and 300
test records, then the mix's ideal bits/byte on RECORDS held-out records (``CMState.trace``, no headers) and
its share (bits without the neural input / bits with it - 1). The core and reference are the registry's model
of DOMAIN (production, else version 1); without ``--registry``, what a build makes: default ``CMParams``, the
train split as reference. SCHEDULE: ``const`` (what `nbmf train` did before 2026-12-02), ``lin`` (linear to
10 %), ``cos`` (cosine to 5 %) or ``wsd`` (held, then linear to 5 % over the last 30 %: ``NeuralConfig.lr_decay``). Steps, not time, so
the figures do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from share_by_slice import record_bits

from nbmf.config import CMParams, ModelConfig, NeuralConfig
from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.neural.model import BytePredictor, eval_bpb, export_int, optimizer, packed, set_lr, train_step, windows_at
from nbmf.records import read_records
from nbmf.registry import Registry


def schedules(steps: int) -> dict[str, Callable[[int], float]]:
    return {
        "const": lambda s: 1.0,
        "lin": lambda s: max(0.1, 1 - s / steps),
        "wsd": lambda s: 1.0 if s < 0.7 * steps else max(0.05, (steps - s) / (0.3 * steps)),
        "cos": lambda s: 0.05 + 0.95 * 0.5 * (1 + float(np.cos(np.pi * min(1.0, s / steps)))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("domain")
    ap.add_argument("runs", nargs="*", default=["const:3e-3:const", "wsd:6e-3:wsd"])
    ap.add_argument("--registry")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--records", type=int, default=400)
    a = ap.parse_args()
    torch.set_num_threads(1)
    sp = split_bytes(list(read_records(f"data/corpus/{a.domain}.jsonl")))
    test = sp["test"][: a.records]
    if a.registry:
        reg = Registry(a.registry)
        version = reg.channels(a.domain).production or 1
        _, ref, cm, _ = unpack_files(reg.load_files(a.domain, version)[1])
    else:
        cm, ref = CMParams(), select_reference(sp["train"], ModelConfig().reference_bytes)
    n = sum(len(r) for r in test)
    st = CMState.build(cm_config(cm), ref, use_nn=False)
    without = record_bits(st, test).sum()
    del st
    print(f"{a.domain}: the core alone {without / n:.5f} bits/byte on {len(test)} held-out records", flush=True)
    cfg = NeuralConfig()
    buf, pos = (torch.from_numpy(x) for x in packed(sp["train"], cfg.context))

    def cut(recs: list[bytes]) -> tuple[torch.Tensor, torch.Tensor]:
        b, p = (torch.from_numpy(x) for x in packed(recs, cfg.context))
        return windows_at(b, p, cfg.context)

    val, tst = cut(sp["val"][:300]), cut(test[:300])
    for run in a.runs:
        name, lr, sched = run.split(":")
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        model = BytePredictor(cfg)
        opt = optimizer(model)
        set_lr(opt, float(lr))  # before LambdaLR, which takes it as the base rate
        lam = torch.optim.lr_scheduler.LambdaLR(opt, schedules(a.steps)[sched])
        t = time.time()
        for _ in range(a.steps):
            idx = torch.from_numpy(rng.integers(0, len(pos), cfg.batch_size))
            train_step(model, opt, *windows_at(buf, pos[idx], cfg.context))
            lam.step()
        st = CMState.build(cm_config(cm), ref, export_int(model), use_nn=True)
        mixed = record_bits(st, test).sum()
        del st
        print(
            f"{a.domain} {name} (lr {lr}, {sched}, {a.steps} steps): alone val {eval_bpb(model, *val):.4f} "
            f"test {eval_bpb(model, *tst):.4f} bits/byte; mix {mixed / n:.5f}, share {without / mixed - 1:+.2%} ({time.time() - t:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
