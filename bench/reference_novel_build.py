"""A whole build, with its reference chosen two or three ways (issue #15, sixty-second and sixty-third sessions).

``bench/reference_selection.py`` primes the core alone with its choices given. This builds the product's model
(``nbmf.neural.build.build_files``: the predictor trained within ``--time-budget``, the choices made on val, the post
mixer, val joined to the shipped reference) twice from the same records with the same seed, once with
``ModelConfig.reference_novel`` 0 (the reference every build before this session chose) and once with the default, and
publishes each to its own registry (``OUT/novel-0``, ``OUT/novel-0.8``), promoted, for ``nbmf bench``; ``--cover`` builds
once more with ``reference_select`` 'cover' (the default since the sixty-third session; ``OUT/cover``), ``--novel``
with no value builds none of the first two:

    python bench/reference_novel_build.py DATA DOMAIN REFERENCE_MIB OUT [--time-budget S] [--novel [T ...]] [--cover]
    nbmf bench --data DATA --domain DOMAIN --registry OUT/novel-0 --ppmd --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbmf.config import ModelConfig, NeuralConfig  # noqa: E402
from nbmf.neural.build import build_files, publish, split_bytes  # noqa: E402
from nbmf.neural.reference import NOVEL  # noqa: E402
from nbmf.records import read_records  # noqa: E402
from nbmf.registry import Registry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("domain")
    ap.add_argument("reference_mib", type=float)
    ap.add_argument("out")
    ap.add_argument("--time-budget", type=float, default=60.0)
    ap.add_argument("--novel", type=float, nargs="*", default=[0.0, ModelConfig().reference_novel])
    ap.add_argument("--cover", action="store_true", help="also build with reference_select 'cover'")
    a = ap.parse_args()
    sp = split_bytes(list(read_records(a.data)))
    ways = [("novel", novel, f"novel-{novel:g}") for novel in a.novel] + ([("cover", NOVEL, "cover")] if a.cover else [])
    for select, novel, name in ways:
        cfg = ModelConfig(
            reference_bytes=int(a.reference_mib * (1 << 20)),
            reference_select=select,
            reference_novel=novel,
            neural=NeuralConfig(time_budget_s=a.time_budget, max_steps=10**9),
        )
        t0 = time.time()
        files, metrics = build_files(sp["train"], sp["val"], cfg, threads=2)
        reg = Registry(str(Path(a.out) / name))
        man = publish(reg, a.domain, files, cfg, metrics)
        reg.promote(a.domain, man.version, reason="bench/reference_novel_build.py")
        keep = ("reference_bytes", "reference_held_out_bytes", "predictor_gain", "predictor_left_out")
        row = {"select": select, "novel": novel, "build_s": round(time.time() - t0, 1)} | {k: metrics[k] for k in keep if k in metrics}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
