"""A generated memory-service warm store, written exactly as the service writes it (old stub blobs, its layout,
its encryption), for the drop-in tests and the migration benchmark.

    make_warm_store(root, n) -> <root>/records/<key>__<cls>.json  (+ <root>/blobs/, which migration copies)
    classes: legal (license text, lossless) · finance (transactions, lossless JSON) · pii (lossless JSON)
             chat (semantic JSON) · ops_log (Python source, semantic) · research_note (semantic, some over 2 KB)
    every ``sealed_every``-th record encrypted; a few stored without an encoder (plain values); ``broken``
    files that no decoder can read (the migration must copy and list them).
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

from nbmf.corpus import local_records
from nbmf.envelope import key_from_material, seal
from nbmf.stub_blob import encode_stub_blob
from nbmf.warm_store import record_name

FIDELITY = {"legal": "lossless", "finance": "lossless", "pii": "lossless", "chat": "semantic", "ops_log": "semantic"}
FIDELITY["research_note"] = "semantic"
MIX = [("legal", 0.2), ("finance", 0.25), ("pii", 0.05), ("chat", 0.2), ("ops_log", 0.2), ("research_note", 0.1)]

MERCHANTS = ["Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", "Wayne Enterprises", "Hooli", "Vandelay Imports"]
CATEGORIES = ["travel", "software", "office", "payroll", "consulting", "utilities", "rent", "marketing"]
WORDS = (
    "the model memory agent should remember that user prefers concise answers about project deadlines and budget review "
    "meeting notes summary next steps customer feedback release plan quarterly report risk analysis follow up schedule"
).split()
FIRST = ["Alice", "Bob", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Julia"]
LAST = ["Smith", "Garcia", "Müller", "Nakamura", "Okafor", "Rossi", "Novak", "Dubois"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _transaction(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "transaction_id": f"txn-{rng.randrange(10**9):09d}",
        "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "amount": round(rng.uniform(1, 25_000), 2),
        "currency": rng.choice(["USD", "EUR", "GBP"]),
        "merchant": rng.choice(MERCHANTS),
        "category": rng.choice(CATEGORIES),
        "account": f"acct-{rng.randrange(10**6):06d}",
        "status": rng.choice(["settled", "pending", "refunded"]),
        "memo": _sentence(rng, rng.randint(5, 30)),
        "line_items": [
            {"sku": f"SKU-{rng.randrange(10**5)}", "qty": rng.randint(1, 9), "price": round(rng.uniform(1, 500), 2)}
            for _ in range(rng.randint(1, 6))
        ],
    }


def _person(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}@example.com",
        "phone": f"+1-555-{rng.randrange(10**4):04d}",
        "address": {
            "street": f"{rng.randint(1, 999)} Main St",
            "city": rng.choice(["Springfield", "Zürich", "Tokyo"]),
            "zip": f"{rng.randrange(10**5):05d}",
        },
        "notes": _sentence(rng, rng.randint(10, 40)),
    }


def _chat(rng: random.Random) -> dict[str, Any]:
    return {
        "conversation_id": f"conv-{rng.randrange(10**6)}",
        "turns": [
            {"role": rng.choice(["user", "assistant"]), "text": _sentence(rng, rng.randint(5, 40)) + "  "} for _ in range(rng.randint(1, 6))
        ],
    }


def make_warm_store(
    root: str | Path, n: int = 10_000, seed: int = 0, sealed_every: int = 3, key_material: str = "memory-test-key", plain: int = 20,
    broken: int = 3,
) -> dict[str, Any]:  # fmt: skip
    """Write ``n`` records (plus ``broken`` unreadable files); returns what was written, for the tests to compare."""
    rng = random.Random(seed)
    root = Path(root)
    (root / "records").mkdir(parents=True, exist_ok=True)
    (root / "blobs").mkdir(exist_ok=True)
    (root / "blobs" / "index.json").write_text(json.dumps({"kind": "index", "records": n}))
    key = key_from_material(key_material)
    legal = itertools.cycle([r["text"] for r in local_records("legal", limit=3000)] or ["This license grants the right to use."])
    code = itertools.cycle([r["text"] for r in local_records("technical", limit=3000)] or ["def f(x):\n    return x\n"])
    classes = [c for c, _ in MIX]
    weights = [w for _, w in MIX]
    written: dict[str, Any] = {}
    for i in range(n):
        cls = rng.choices(classes, weights)[0]
        payload: Any
        if cls == "legal":
            payload = next(legal)
        elif cls == "finance":
            payload = _transaction(rng, i)
        elif cls == "pii":
            payload = _person(rng)
        elif cls == "chat":
            payload = _chat(rng)
        elif cls == "ops_log":
            payload = next(code)
        else:
            payload = "\n\n".join(_sentence(rng, rng.randint(20, 80)) for _ in range(rng.randint(1, 14)))
        key_name = f"item{i:06d}" if i % 7 else f"user/{i % 50}/item{i:06d}"
        meta = {"tenant_id": f"tenant-{i % 3}", "fidelity": FIDELITY[cls], "access_count": rng.randint(0, 9)}
        if i < plain:  # written by a store without an encoder: the plain value
            doc = {"payload": payload, "meta": meta, "cls": cls}
        else:
            blob = encode_stub_blob(
                payload,
                FIDELITY[cls],
                **({"encoder_version": "production_placeholder", "encoder_domain": "general"} if i % 11 == 0 else {}),
            )
            meta["compression"] = {"mode": "stub"}
            doc = {"payload": blob, "meta": meta, "cls": cls}
        data = json.dumps(doc, ensure_ascii=False).encode()
        name = record_name(key_name, cls)
        (root / "records" / name).write_bytes(seal(data, key) if sealed_every and i % sealed_every == 0 else data)
        written[name] = {
            "payload": payload,
            "cls": cls,
            "fidelity": FIDELITY[cls],
            "blob": doc["payload"],
            "sealed": bool(sealed_every and i % sealed_every == 0),
        }
    for j in range(broken):
        (root / "records" / record_name(f"broken{j}", "chat")).write_bytes(
            b'{"payload": {"meta": {"fidelity": "lossless"}, "code": "zz", "sig": "00"}, "cls": "chat"}' if j % 2 == 0 else b"{not json"
        )
    return written
