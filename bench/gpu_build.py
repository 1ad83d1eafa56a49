"""Build and publish a GPU run's weights on a CPU machine, as the train job's build task does (issue #15).

    python bench/gpu_build.py OUTDIR DATA_ROOT DOMAIN REGISTRY

OUTDIR is what ``bench/gpu_train_path.sh`` handed back (best.pt.part-*, config.json, snapshot.json). The weights go
through ``jobs.train.build_and_publish`` unchanged: the same integer export, reference, dictionary, post mixer and
end-to-end val measurement, and the run's last reported metrics land in the manifest as ``train_*``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_metrics import last_metrics  # noqa: E402

from jobs.train import TrainConfig, build_and_publish  # noqa: E402
from nbmf.storage import Store  # noqa: E402


def main() -> None:
    out, data, domain, registry = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    parts = sorted(out.glob("best.pt.part-*"))
    if not parts:
        raise SystemExit(f"no best.pt.part-* under {out}")
    cfg = TrainConfig.model_validate_json((out / "config.json").read_text())
    cfg = cfg.model_copy(update={"data": Store(data).resolved_uri, "registry": Store(registry).resolved_uri, "domains": [domain]})
    metrics = last_metrics(json.loads((out / "snapshot.json").read_text())) or {}
    metrics = dict(metrics) | {"run": f"{domain}-gpu"}
    with tempfile.TemporaryDirectory() as d:
        blob = b"".join(p.read_bytes() for p in parts)
        (Path(d) / "best.pt").write_bytes(blob)
        best = torch.load(Path(d) / "best.pt", map_location="cpu", weights_only=True)
        ck = Path(d) / "checkpoint"
        ck.mkdir()
        torch.save({"model": best, "best_model": best}, ck / "state.pt")
        built = build_and_publish(cfg.model_dump_json(), domain, str(ck), metrics)
    print(json.dumps({"version": built["version"], "metrics": built["metrics"]}, indent=1, default=str))


if __name__ == "__main__":
    main()
