"""Where bench scripts put what they measured: printed, and saved as bench/results/<name>.json; and the
process's resident memory, which several of them measure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


def save(name: str, out: dict[str, Any]) -> None:
    text = json.dumps(out, indent=2)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(text + "\n")


def rss_mb() -> float:
    """This process's resident set size now, in MiB (/proc/self/status; NaN where there is none)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
