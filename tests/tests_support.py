"""Helpers shared by tests (not fixtures)."""

from __future__ import annotations

import json
import socket
from pathlib import Path


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def write_datasets(root: Path, domains: dict[str, list[str]]) -> None:
    """datasets/<domain>/{train,val,test}/ as the collect job writes them (80/10/10 in order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for domain, texts in domains.items():
        n = len(texts)
        splits = {"train": texts[: int(n * 0.8)], "val": texts[int(n * 0.8) : int(n * 0.9)], "test": texts[int(n * 0.9) :]}
        for split, rows in splits.items():
            d = root / "datasets" / domain / split
            d.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({"text": rows, "payload_type": ["str"] * len(rows)}), d / "part-0.parquet")
        (root / "datasets" / domain / "manifest.json").write_text(json.dumps({"domain": domain, "records": n}))
