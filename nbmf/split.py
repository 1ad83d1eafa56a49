"""Deterministic train / val / test split keyed by source document: no document lands on two sides."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")


def split_of(document_key: str, seed: int = 0, val: float = 0.05, test: float = 0.1) -> str:
    """The split of every record of ``document_key``: a seeded hash, stable across runs and machines."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{document_key}".encode()).digest()[:8], "big") / 2**64
    if h < test:
        return "test"
    if h < test + val:
        return "val"
    return "train"
