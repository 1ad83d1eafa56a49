"""The compute curve: what more training tokens buy the codec (issue #15).

python bench/compute_curve.py --domain technical [--base-tokens 2000000] [--multiples 1 4 16] [--ref-mib 2] [--records 250]
python bench/compute_curve.py --domain financial --full-reference --records 400   # the shipped reference cap
python bench/compute_curve.py --domain financial --product --records 400          # the product's build of each

Needs data/corpus/<domain>.jsonl (``nbmf corpus --out data/corpus``). The shipped predictor
(``NeuralConfig()``: 64 bytes of context since 2026-12-02, 16 before; 128 hidden) is trained from
scratch on the train side for ``base × m`` tokens each (Adam, the shipped batch and learning-rate
schedule by steps, ``nbmf.neural.model.lr_factor``; before the thirty-fifth session a linear decay
to 10 %), on the device there is (``cuda`` when present). Each model is then measured as
``bench/gpu_predictor_bench.py`` does on the first ``--records`` held-out records: the float
predictor's val bits/byte, the integer predictor alone, and the whole codec with it mixed in; the
first row is the same primed core without a neural input (the ablation). A 2 MiB reference keeps
priming short: compare the rows, not the product's ratio. ``--full-reference`` primes on what the
product primes on (``ModelConfig.reference_bytes`` of the train side) and counts what a frame of
version 5 costs (the end coded in the payload, a 6-byte header), so the share is the product's.
``--product`` (fifty-third session) goes further: each trained predictor is built into a model version as ``nbmf
train`` builds it (``build_files``: the reference cap, tables sized for it, and the choices the build makes on val:
the predictor's place, order sets, match trust, a record's rate, the post mixer), and the held-out records are coded
by that version with and without its predictor (``NeuralCodec.from_files(files, use_neural=False)``, as ``nbmf
bench``'s ablation) and by its predictor alone, each record with the header of its frame (``frame.header_size``).
So every row has its own ablation and the share is the one ``nbmf bench`` reports.
Writes bench/results/compute_curve_<domain>[_fullref|_product].json and .png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from gpu_predictor_bench import measure, val_bpb
from results_io import save

from nbmf.config import ModelConfig, NeuralConfig
from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.model import BytePredictor, export_int, lr_factor, optimizer, packed, train_step, windows_at
from nbmf.records import read_records


def train_tokens(cfg: NeuralConfig, recs: list[bytes], tokens: int, device: str) -> tuple[BytePredictor, dict[str, Any]]:
    """Adam over ``tokens`` training tokens (random windows of the train side), the shipped schedule by steps."""
    torch.manual_seed(cfg.seed)
    buf, pos = packed(recs, cfg.context)
    b, p = torch.from_numpy(buf).to(device), torch.from_numpy(pos).to(device)
    model = BytePredictor(cfg).to(device)
    opt = optimizer(model)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    steps = max(1, tokens // cfg.batch_size)
    t0 = time.perf_counter()
    for s in range(steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg, s / steps)
        at = p[torch.randint(0, len(p), (cfg.batch_size,), device=device, generator=gen)]
        train_step(model, opt, *windows_at(b, at, cfg.context))
    secs = time.perf_counter() - t0
    n = steps * cfg.batch_size
    return model.cpu(), {"steps": steps, "tokens": n, "train_s": round(secs, 1), "tokens_per_s": round(n / secs)}


def product_row(weights: Any, sp: dict[str, list[bytes]], test: list[bytes]) -> dict[str, Any]:
    """Build a model version around ``weights`` as ``nbmf train`` does, then code ``test`` with it, without its predictor
    and with its predictor alone (frames' headers counted)."""
    from nbmf.frame import ModelRef, header_size
    from nbmf.neural.build import build_files, build_threads
    from nbmf.neural.codec import NeuralCodec

    t0 = time.perf_counter()
    say = lambda s: print("  ", s, flush=True)  # noqa: E731
    # the predictor kept unchecked (``predictor_min_gain``): the curve is of what it adds, which the build may find too little
    cfg = ModelConfig(predictor_min_gain=None)
    files, metrics = build_files(sp["train"], sp["val"], cfg, weights, say, build_threads(os.cpu_count() or 1))
    row: dict[str, Any] = {"build_s": round(time.perf_counter() - t0, 1)}
    row |= {k: metrics[k] for k in ("match_trust", "order_sets", "mixers", "lr_record", "predictor_place") if k in metrics}
    orig = sum(map(len, test))
    for name, kw in (("", {}), ("without_neural_", {"use_neural": False}), ("predictor_alone_", {"nn_only": True})):
        nc = NeuralCodec.from_files(files, **kw)
        ends = nc.codes_ends
        head = [header_size(len(r), ModelRef(0, 1, serial=1), 5 if ends else 3) for r in test]
        coded = sum(len(nc.compress_unbounded(r, ends=ends)) + h for r, h in zip(test, head))
        row[f"{name}ratio"] = round(orig / coded, 3)
        row[f"{name}bytes"] = coded
    row["share_pct"] = round(100 * (row["without_neural_bytes"] / row["bytes"] - 1), 2)
    row["predictor_alone_bpb"] = round(8 * row.pop("predictor_alone_bytes") / orig, 4)
    row.pop("predictor_alone_ratio")
    return row


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in res["variants"].values() if "tokens" in r]
    x = [r["tokens"] / 1e6 for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(x, [r["ratio"] for r in rows], "o-", label="codec, predictor mixed in")
    if "cm_without_neural" in res["variants"]:
        base = res["variants"]["cm_without_neural"]["ratio"]
        ax[0].axhline(base, color="grey", ls="--", label=f"core without the predictor ({base})")
        for xi, r in zip(x, rows):
            ax[0].annotate(f"{r['ratio']} (+{100 * (r['ratio'] / base - 1):.1f} %)", (xi, r["ratio"]), fontsize=8)
    else:  # --product: each version has its own ablation
        ax[0].plot(x, [r["without_neural_ratio"] for r in rows], "s--", color="grey", label="the same version without its predictor")
        for xi, r in zip(x, rows):
            ax[0].annotate(f"{r['ratio']} (+{r['share_pct']:.2f} %)", (xi, r["ratio"]), fontsize=8)
    ax[0].set(xscale="log", xlabel="training tokens (M)", ylabel="total ratio (held-out records)", title=f"{res['domain']}: codec ratio")
    ax[0].legend(fontsize=8)
    ax[1].plot(x, [r["val_bpb_float"] for r in rows], "o-", label="float predictor, val")
    ax[1].plot(x, [r["predictor_alone_bpb"] for r in rows], "s-", label="integer predictor alone, test")
    ax[1].set(xscale="log", xlabel="training tokens (M)", ylabel="bits per byte", title="the predictor alone")
    ax[1].legend(fontsize=8)
    for a in ax:
        a.set_xticks(x, [f"{v:.0f}M" for v in x])
        a.minorticks_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", default="technical")
    ap.add_argument("--base-tokens", type=int, default=2_000_000)
    ap.add_argument("--multiples", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--ref-mib", type=float, default=2)
    ap.add_argument("--full-reference", action="store_true", help="prime on ModelConfig.reference_bytes (the product's cap)")
    ap.add_argument("--product", action="store_true", help="build each predictor into a version as `nbmf train` does; its own ablation")
    ap.add_argument("--records", type=int, default=250)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--context", type=int, default=None, help="predictor context bytes (default: NeuralConfig's)")
    ap.add_argument("--hidden", type=int, default=None, help="predictor hidden width (default: NeuralConfig's)")
    ap.add_argument("--weight-decay", type=float, default=None, help="AdamW's decay (default: NeuralConfig's; 0: Adam)")
    ap.add_argument("--tag", default="", help="a suffix for the result files (e.g. a run of other multiples)")
    ap.add_argument("--replot", action="store_true", help="only draw the PNG again from the saved JSON")
    args = ap.parse_args()
    given = (("context", args.context), ("hidden", args.hidden), ("weight_decay", args.weight_decay))
    arch = {k: v for k, v in given if v is not None}
    name = f"compute_curve_{args.domain}" + "".join(f"_{k}{v}" for k, v in arch.items())
    name += ("_product" if args.product else "_fullref" if args.full_reference else "") + args.tag
    if args.replot:
        import json

        results = Path(__file__).parent / "results"
        plot(json.loads((results / f"{name}.json").read_text()), results / f"{name}.png")
        return
    sp = split_bytes(list(read_records(f"data/corpus/{args.domain}.jsonl")))
    ref_bytes = ModelConfig().reference_bytes if args.full_reference or args.product else int(args.ref_mib * 2**20)
    ref = select_reference(sp["train"], ref_bytes)
    test = sp["test"][: args.records]
    res: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "domain": args.domain,
        "predictor": NeuralConfig(**arch).model_dump(),
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "train_bytes": sum(map(len, sp["train"])),
        "test_records": len(test),
        "test_bytes": sum(map(len, test)),
        "reference_bytes": len(ref),
        "variants": {},
    }

    def report(name: str, row: dict[str, Any]) -> None:
        res["variants"][name] = row
        print(name, row, flush=True)

    framing: dict[str, Any] = {"header": 6, "ends": True} if args.full_reference else {}
    if not args.product:
        res["header_bytes"] = framing.get("header", 12)
        report("cm_without_neural", measure(None, ref, test, **framing))
    for m in args.multiples:
        model, row = train_tokens(NeuralConfig(**arch), sp["train"], args.base_tokens * m, args.device)
        print(f"{m}x: {row}", flush=True)
        coded = product_row(export_int(model), sp, test) if args.product else measure(export_int(model), ref, test, **framing)
        report(f"{m}x", {"multiple": m} | row | {"val_bpb_float": val_bpb(model, sp["val"])} | coded)
    save(name, res)
    plot(res, Path(__file__).parent / "results" / f"{name}.png")


if __name__ == "__main__":
    main()
