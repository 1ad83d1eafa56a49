"""One CPU training step of the neural predictor, this tree's ``nbmf/neural/model.py`` against another revision's.

    python bench/train_step_ab.py REV [--threads 1] [--rounds 3] [--steps 80] [--domain technical]
Loads ``git show REV:nbmf/neural/model.py`` as a second module, then trains the shipped ``NeuralConfig``'s model
from the same seed on the same batches of real windows (the built-in corpus's first 1,500 records of the domain) with each
module in turn, ``--rounds`` times interleaved so that a slow spell of the machine falls on both alike: ms per step
(forward, backward, Adam; the first 5 steps untimed), the mean loss of the last 20 steps, and how far apart the two
trained first-layer tables are. Run it alone on the machine:
it measures time. Writes bench/results/train_step_ab.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from results_io import save

import nbmf.neural.model as here
from nbmf.config import NeuralConfig
from nbmf.corpus import local_records


def module_at(rev: str) -> ModuleType:
    src = subprocess.run(["git", "show", f"{rev}:nbmf/neural/model.py"], check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "model_at_rev.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("model_at_rev", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["model_at_rev"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def run(mod: Any, c: torch.Tensor, t: torch.Tensor, steps: int) -> tuple[float, float, torch.Tensor]:
    cfg = NeuralConfig()
    torch.manual_seed(0)
    model = mod.BytePredictor(cfg)
    opt = mod.optimizer(model)
    rng = np.random.default_rng(0)
    losses = []
    t0 = time.perf_counter()
    for k in range(steps + 5):
        if k == 5:
            t0 = time.perf_counter()
        idx = torch.from_numpy(rng.integers(0, len(t), cfg.batch_size))
        losses.append(mod.train_step(model, opt, c[idx], t[idx]))
    return (time.perf_counter() - t0) / steps * 1e3, float(np.mean(losses[-20:])), model.first_layer_table()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rev")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--domain", default="technical")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    records = [r["text"].encode() for r in local_records(args.domain, limit=1500)]
    ctx, tgt = here.windows(records, NeuralConfig().context)
    c, t = torch.from_numpy(ctx), torch.from_numpy(tgt)
    other = module_at(args.rev)
    rows = []
    for r in range(args.rounds):
        a_ms, a_loss, a_p = run(other, c, t, args.steps)
        b_ms, b_loss, b_p = run(here, c, t, args.steps)
        row = {
            "round": r,
            f"{args.rev}_ms_per_step": round(a_ms, 2),
            "this_tree_ms_per_step": round(b_ms, 2),
            f"{args.rev}_loss_last20": round(a_loss, 5),
            "this_tree_loss_last20": round(b_loss, 5),
            "table_max_abs_diff": float((a_p - b_p).abs().max()),
        }
        print(row, flush=True)
        rows.append(row)
    commit = subprocess.run(["git", "rev-parse", "--short", args.rev], check=True, capture_output=True, text=True).stdout.strip()
    out = {"command": "python " + " ".join(sys.argv), "rev": commit, "torch": torch.__version__, "threads": args.threads, "rounds": rows}
    save("train_step_ab", out)


if __name__ == "__main__":
    main()
