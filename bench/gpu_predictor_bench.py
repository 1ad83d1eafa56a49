"""What GPU training buys the codec: the neural predictor trained longer / wider, mixed in, on held-out records.

python bench/gpu_predictor_bench.py --domain technical [--seconds 45] [--ref-mib 2] [--records 250]

Needs data/corpus/<domain>.jsonl (``nbmf corpus --out data/corpus``) and, for the GPU variants, CUDA.
Split by source document (seed 0) as everywhere; the reference (priming text) and every predictor
use the train side only. Variants, each measured on the first ``--records`` test records:

- the context-mixing core without a neural input;
- the shipped predictor trained as ``nbmf build`` does (CPU, NeuralConfig's step and time budget);
- the shipped architecture trained ``--seconds`` on the GPU, batch 8192;
- a wider predictor (hidden 512) trained ``--seconds`` on the GPU, batch 8192.

For each: the float predictor's val bits/byte, the integer predictor alone on the test records, and
the whole codec (primed, mixed) as total ratio and bits/byte, 12-byte frame headers counted. A smaller
reference than the shipped 8 MiB keeps priming short: the ratios are for comparing the variants.
Writes bench/results/gpu_predictor_<domain>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch
from results_io import save

from nbmf.config import CMParams, NeuralConfig
from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.cm import CMState, NeuralWeights
from nbmf.neural.codec import cm_config
from nbmf.neural.model import BytePredictor, eval_bpb, export_int, optimizer, train, train_step, windows
from nbmf.records import read_records

HEADER = 12


def train_timed(cfg: NeuralConfig, recs: list[bytes], seconds: float, device: str) -> tuple[BytePredictor, dict[str, Any]]:
    """Adam for ``seconds`` on ``device``, the learning rate decaying linearly to 10 % over the time."""
    torch.manual_seed(cfg.seed)
    ctx, tgt = windows(recs, cfg.context)
    c, t = torch.from_numpy(ctx).to(device), torch.from_numpy(tgt).to(device)
    model = BytePredictor(cfg).to(device)
    opt = optimizer(model)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    t0, steps = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        for group in opt.param_groups:
            group["lr"] = cfg.lr * max(0.1, 1 - elapsed / seconds)
        idx = torch.randint(0, len(t), (cfg.batch_size,), device=device, generator=gen)
        train_step(model, opt, c[idx], t[idx])
        steps += 1
    secs = time.perf_counter() - t0
    tokens = steps * cfg.batch_size
    return model.cpu(), {"steps": steps, "train_s": round(secs, 1), "tokens": tokens, "tokens_per_s": round(tokens / secs)}


def measure(weights: NeuralWeights | None, ref: bytes, test: list[bytes], header: int = HEADER, ends: bool = False) -> dict[str, Any]:
    """Ratio of ``test`` coded alone with ``header`` bytes each (``ends``: the record's end coded, as frames 4 and 5 do)."""
    cm = cm_config(CMParams())
    orig = sum(map(len, test))
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    state = CMState.build(cm, ref, weights, use_nn=weights is not None)
    out["prime_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    coded = sum(len(state.encode(r, 2 * len(r) + 64, ends=ends)) + header for r in test)
    out["encode_s"] = round(time.perf_counter() - t0, 1)
    out["ratio"] = round(orig / coded, 3)
    out["bpb"] = round(8 * coded / orig, 4)
    if weights is not None:
        alone = CMState.build(cm, ref, weights, nn_only=True)
        out["predictor_alone_bpb"] = round(8 * sum(len(alone.encode(r, 2 * len(r) + 64, ends=ends)) + header for r in test) / orig, 4)
    return out


def val_bpb(model: BytePredictor, val: list[bytes]) -> float:
    vc, vt = windows(val, model.cfg.context)
    return round(eval_bpb(model, torch.from_numpy(vc[:200_000]), torch.from_numpy(vt[:200_000])), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", default="technical")
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--ref-mib", type=float, default=2)
    ap.add_argument("--records", type=int, default=250)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    sp = split_bytes(list(read_records(f"data/corpus/{args.domain}.jsonl")))
    ref = select_reference(sp["train"], int(args.ref_mib * 2**20))
    test = sp["test"][: args.records]
    res: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "train_records": len(sp["train"]),
        "train_bytes": sum(map(len, sp["train"])),
        "test_records": len(test),
        "test_bytes": sum(map(len, test)),
        "reference_bytes": len(ref),
        "variants": {},
    }

    def report(name: str, row: dict[str, Any]) -> None:
        res["variants"][name] = row
        print(name, row, flush=True)

    report("cm_without_neural", measure(None, ref, test))
    shipped = BytePredictor(NeuralConfig())
    t = train(shipped, sp["train"], sp["val"])
    tokens = t.steps * shipped.cfg.batch_size
    row = {"steps": t.steps, "train_s": round(t.seconds, 1), "tokens": tokens, "tokens_per_s": round(t.tokens_per_s)}
    report("shipped_cpu", row | {"val_bpb_float": val_bpb(shipped, sp["val"])} | measure(export_int(shipped), ref, test))
    for name, cfg in (
        ("shipped_arch_gpu", NeuralConfig(batch_size=8192)),
        ("hidden512_gpu", NeuralConfig(batch_size=8192, hidden=512)),
    ):
        model, row = train_timed(cfg, sp["train"], args.seconds, args.device)
        report(name, row | {"val_bpb_float": val_bpb(model, sp["val"])} | measure(export_int(model), ref, test))
    save(f"gpu_predictor_{args.domain}", res)


if __name__ == "__main__":
    main()
