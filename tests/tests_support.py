"""Helpers shared by tests (not fixtures)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


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


def check_two_versions(client: Any, registry: Any, texts: list[str], domain: str = "legal") -> None:
    """Encode under version 1, promote 2, encode again: each frame names and decodes by its own version."""
    import base64

    from nbmf.frame import unpack

    r1 = client.encode_response(texts, domain=domain)
    registry.promote(domain, 2)
    try:
        r2 = client.encode_response(texts, domain=domain)
    finally:
        registry.promote(domain, 1)
    assert {f["model"] for f in r1["frames"]} == {f"{domain}@1"} and {f["model"] for f in r2["frames"]} == {f"{domain}@2"}
    frames = [base64.b64decode(f["frame"]) for f in r1["frames"] + r2["frames"]]
    assert {unpack(f)[0].model.version for f in frames} == {1, 2}
    # both generations in one request: each frame goes to its own version (never a mixed batch)
    assert client.decode(frames) == texts + texts
