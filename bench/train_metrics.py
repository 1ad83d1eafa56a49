"""The train job's last reported metrics per domain of a run: where its wall time went (issue #15).

    python bench/train_metrics.py RUNS_DIR        (e.g. out/trainpath-NAME/runs)

Reads each ``<domain>-<run>/checkpoint_manager_snapshot.json`` that Ray Train keeps and prints the last metrics
the workers reported: steps, tokens/s (wall, and in optimizer steps only), and the seconds in steps, data and
evaluations (with their checkpoints).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

KEYS = (
    "step", "val_tokens", "val_bpb", "tokens_per_s_per_worker", "step_tokens_per_s_per_worker", "wall_s", "step_s", "data_s", "eval_s",
    "first_batch_s", "passes", "shard_cached",
)  # fmt: skip


def last_metrics(o: Any) -> dict[str, Any] | None:
    """The last dict holding ``step_s`` anywhere in ``o`` (metrics may sit in JSON strings)."""
    found = None
    if isinstance(o, dict):
        found = o if "step_s" in o else None
        for v in o.values():
            found = last_metrics(v) or found
    elif isinstance(o, list):
        for v in o:
            found = last_metrics(v) or found
    elif isinstance(o, str) and "step_s" in o:
        try:
            found = last_metrics(json.loads(o))
        except ValueError:
            pass
    return found


if __name__ == "__main__":
    for f in sorted(Path(sys.argv[1]).glob("*/checkpoint_manager_snapshot.json")):
        m = last_metrics(json.loads(f.read_text())) or {}
        shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in m.items() if k in KEYS}
        print(f.parent.name, json.dumps(shown))
