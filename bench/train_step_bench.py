"""Training-step throughput of the neural predictor: bytes (tokens) per second, CPU and CUDA.

python bench/train_step_bench.py [--steps 60] [--batch 1024 --batch 8192]

The shipped NeuralConfig's model, real windows of the built-in technical corpus, Adam, one
``train_step`` per batch (forward, backward, step; the loss is read back each step, as the training
loop does). Each device gets 5 warm-up steps, then ``--steps`` timed ones. Where CUDA is present it is
timed beside the CPU (all of this process's torch threads); it says what a GPU buys the training job
(``--use-gpu``) per worker. Writes bench/results/train_step_gpu.json where CUDA is present, else
train_step_cpu.json.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from results_io import save

from nbmf.config import NeuralConfig
from nbmf.corpus import local_records
from nbmf.neural.model import BytePredictor, optimizer, train_step, windows


def tokens_per_s(device: str, ctx: np.ndarray, tgt: np.ndarray, batch: int, steps: int) -> tuple[float, float]:
    cfg = NeuralConfig()
    torch.manual_seed(0)
    model = BytePredictor(cfg).to(device)
    opt = optimizer(model)
    c, t = torch.from_numpy(ctx).to(device), torch.from_numpy(tgt).to(device)
    rng = np.random.default_rng(0)
    bpb = 0.0
    for k in range(5 + steps):
        if k == 5:
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        idx = torch.from_numpy(rng.integers(0, len(tgt), batch)).to(device)
        bpb = train_step(model, opt, c[idx], t[idx])  # reads the loss back: a sync per step, as in training
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0), bpb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, action="append")
    args = ap.parse_args()
    batches = args.batch or [1024, 8192]
    recs = [r["text"].encode() for r in local_records("technical", limit=3000)]
    ctx, tgt = windows(recs, NeuralConfig().context)
    out: dict[str, object] = {
        "command": "python " + " ".join(sys.argv),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "tokens_available": int(len(tgt)),
        "results": [],
    }
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    for device in devices:
        for batch in batches:
            rate, bpb = tokens_per_s(device, ctx, tgt, batch, args.steps)
            row = {"device": device, "batch": batch, "steps": args.steps, "tokens_per_s": round(rate), "last_bpb": round(bpb, 3)}
            print(row, flush=True)
            out["results"].append(row)  # type: ignore[attr-defined]
    save("train_step_gpu" if torch.cuda.is_available() else "train_step_cpu", out)


if __name__ == "__main__":
    main()
