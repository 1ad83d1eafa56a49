"""One document key for every record (records.document_key), and memory-service exports split by item."""

import json
from collections import Counter
from pathlib import Path

import pytest
from memory_store import make_warm_store

from nbmf.envelope import key_from_material
from nbmf.policy import ClassPolicy
from nbmf.records import Record, document_key, read_records, record_key
from nbmf.shaping import shape_file


def _export(n: int = 600) -> list[dict]:
    """The old collector's raw_samples.json: every record says metadata.source = memory_service."""
    return [
        {
            "id": f"item{i // 4}_{i % 4}",
            "domain": "general",
            "type": "text",
            "data": f"memory note {i}: the user prefers short answers about deadline {i % 13} and budget review " * 3,
            "metadata": {"source": "memory_service", "class": "chat", "item_id": f"item{i // 4}", "collected_at": "2026-01-01"},
        }
        for i in range(n)
    ]


def test_document_key_order() -> None:
    meta = {"source": "memory_service", "item_id": "it-1", "file": "/a/b.txt"}
    assert document_key({"source": "doc.txt", "metadata": meta, "id": "x"}, "fb") == "doc.txt"
    assert document_key({"metadata": meta, "id": "x"}, "fb") == "it-1"
    assert document_key({"metadata": {"source": "file", "file": "/a/b.txt"}}, "fb") == "/a/b.txt"
    assert document_key({"metadata": {"source": "memory_service"}, "id": "x_3"}, "fb") == "x_3"
    assert document_key({"metadata": {"source": "wiki/Page"}}, "fb") == "wiki/Page"  # a real document name stays
    assert document_key({}, "fb") == "fb"
    assert record_key(Record("v", 0, source="it-1")) == "it-1"  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "jsonl-rows"])
def test_an_export_gives_non_empty_disjoint_splits(fmt: str) -> None:
    rows = _export()
    if fmt == "json":
        t = shape_file("raw_samples.json", json.dumps(rows).encode(), None, 50, 4096, 0, 0.1, 0.1)
    else:
        data = "\n".join(json.dumps(r) for r in rows).encode()
        t = shape_file("raw.jsonl", data, None, 50, 4096, 0, 0.1, 0.1, vectorised=fmt == "jsonl")
    splits = Counter(t.column("split").to_pylist())
    assert all(splits[s] > 0 for s in ("train", "val", "test")), splits
    by_key: dict[str, set[str]] = {}
    for k, s in zip(t.column("doc_key").to_pylist(), t.column("split").to_pylist()):
        by_key.setdefault(k, set()).add(s)
    assert all(len(s) == 1 for s in by_key.values()) and len(by_key) == 150  # one item: one split


def test_read_records_keys_exports_by_item(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _export(40)))
    assert {r.source for r in read_records(str(path))} == {f"item{i}" for i in range(10)}


def test_warm_store_records_shape_by_class_and_key(tmp_path: Path) -> None:
    written = make_warm_store(tmp_path, n=60, broken=2)
    key = key_from_material("memory-test-key")
    rows, bad = [], []
    for f in sorted((tmp_path / "records").iterdir()):
        t = shape_file(str(f), f.read_bytes(), None, 1, 100_000, 0, 0.1, 0.1, False, True, ClassPolicy(), key).to_pylist()
        rows += [r for r in t if r["bad"] is None]
        bad += [r for r in t if r["bad"] is not None]
    assert len(bad) == 2 and len(rows) >= 60
    domains = {r["domain"] for r in rows}
    assert domains <= {"legal", "financial", "general", "technical"} and len(domains) >= 3
    assert {r["doc_key"] for r in rows} == {n.rsplit("__", 1)[0] for n in written}
    # without the key, sealed files are skipped with a reason (never read as garbage)
    sealed = next(tmp_path / "records" / n for n, w in written.items() if w["sealed"])
    out = shape_file(str(sealed), sealed.read_bytes(), None, 1, 100_000, 0, 0.1, 0.1).to_pylist()
    assert out[0]["bad"] and "DAENA_MEMORY_AES_KEY" in out[0]["bad"]


def test_invalid_domains_are_skipped_and_named() -> None:
    rows = [{"domain": "Legal Docs!", "text": "x" * 300}, {"domain": "legal", "text": "y" * 300}]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    for vec in (True, False):
        t = shape_file("in.jsonl", data, None, 50, 4096, 0, 0.1, 0.1, vectorised=vec).to_pylist()
        assert [r["domain"] for r in t if r["bad"] is None] == ["legal"]
        assert any("not a valid name" in (r["bad"] or "") and "line 1" in r["bad"] for r in t)
