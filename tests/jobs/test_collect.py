import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.collect import CollectConfig, run
from nbmf.errors import InputError
from nbmf.storage import Store

PARA = "Clause {i}. The licensee shall keep this notice and every copyright line intact in all copies of document {d}."


def _doc(d: int, n: int = 6) -> str:
    return "\n\n".join(PARA.format(i=i, d=d) * 2 for i in range(n))


def _write_inputs(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"r{i}", "source": f"doc{i % 30}", "text": PARA.format(i=i, d=i % 30) * 3}) for i in range(120)]
    lines.insert(5, "{not json")
    lines.insert(9, json.dumps({"id": "x", "neither": 1}))
    lines.append(lines[0])  # an exact duplicate
    (root / "records.jsonl").write_text("\n".join(lines) + "\n")
    table = pa.table(
        {
            "id": [f"p{i}" for i in range(40)],
            "domain": ["financial"] * 40,
            "text": [f"Quarterly revenue of segment {i} rose {i % 7} percent against the prior period guidance. " * 3 for i in range(40)],
        }
    )
    pq.write_table(table, root / "fin.parquet")
    docs = root / "docs"
    docs.mkdir(exist_ok=True)
    for d in range(12):
        (docs / f"doc{d}.md").write_text(_doc(d))
    (docs / "event.json").write_text(json.dumps({"id": "e1", "domain": "legal", "type": "json", "data": {"k": "v" * 300, "n": 1}}))
    (docs / "bad.txt").write_bytes(b"\xff\xfe not utf-8 at all" * 20)


def _rows(store: Store, domain: str, split: str) -> list[dict]:
    d = store.child("datasets", domain, split)
    rows: list[dict] = []
    for f in d.list():
        rows += pq.read_table(d.full(f), filesystem=store.filesystem).to_pylist()
    return rows


@pytest.mark.slow
def test_collect_local_and_s3(ray_local, tmp_path: Path, s3_bucket: str) -> None:  # type: ignore[no-untyped-def]
    inp = tmp_path / "in"
    _write_inputs(inp)
    # the same inputs, once from a local directory and once uploaded to the S3 server
    src = Store(s3_bucket).child("raw")
    for p in inp.rglob("*"):
        if p.is_file():
            src.write_bytes(str(p.relative_to(inp)), p.read_bytes())
    manifests: list[dict] = []
    for inputs, out in (([str(inp)], str(tmp_path / "out")), ([src.uri], Store(s3_bucket).child("nbmf").uri)):
        cfg = CollectConfig(inputs=inputs, out=out, domain="legal", min_bytes=100, max_bytes=600, cap=10_000)
        man = run(cfg)
        manifests.append(man)
        store = Store(out)
        assert set(man["domains"]) == {"legal", "financial"}
        assert man["counts"]["malformed"] == 3  # bad JSON line, line without text/data, invalid UTF-8 file
        assert any("records.jsonl line 6" in b for b in man["malformed_examples"])
        assert man["counts"]["duplicates"] >= 1
        legal = {s: _rows(store, "legal", s) for s in ("train", "val", "test")}
        assert sum(len(v) for v in legal.values()) == man["domains"]["legal"]["records"]
        docs = {s: {r["doc_key"] for r in v} for s, v in legal.items()}
        assert not (docs["train"] & docs["test"]) and not (docs["train"] & docs["val"]) and not (docs["val"] & docs["test"])
        texts = [r["text"] for v in legal.values() for r in v]
        assert len(texts) == len(set(texts))  # no exact duplicates
        assert all(100 <= r["nbytes"] <= 600 for v in legal.values() for r in v)
        assert any(r["payload_type"] == "json" for v in legal.values() for r in v)
        assert (
            len(_rows(store, "financial", "train")) + len(_rows(store, "financial", "test")) + len(_rows(store, "financial", "val")) == 40
        )
        manifest = json.loads(store.read_bytes("datasets/legal/manifest.json"))
        assert manifest["splits"]["train"]["records"] == len(legal["train"])
    # deterministic and idempotent: a rerun does nothing, a forced rerun gives the same split
    again = run(CollectConfig(inputs=[str(inp)], out=str(tmp_path / "out"), domain="legal", min_bytes=100, max_bytes=600, cap=10_000))
    assert again == manifests[0]  # unchanged inputs: nothing redone
    before = {r["text"]: "train" for r in _rows(Store(str(tmp_path / "out")), "legal", "train")}
    run(CollectConfig(inputs=[str(inp)], out=str(tmp_path / "out"), domain="legal", min_bytes=100, max_bytes=600, cap=10_000, force=True))
    after = {r["text"]: "train" for r in _rows(Store(str(tmp_path / "out")), "legal", "train")}
    assert before == after


@pytest.mark.slow
def test_cap_and_fail_on_bad(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inp = tmp_path / "in"
    _write_inputs(inp)
    man = run(CollectConfig(inputs=[str(inp / "docs")], out=str(tmp_path / "o1"), domain="legal", min_bytes=100, max_bytes=600, cap=7))
    assert man["domains"]["legal"]["records"] == 7
    with pytest.raises(InputError, match="malformed"):
        run(CollectConfig(inputs=[str(inp)], out=str(tmp_path / "o2"), domain="legal", fail_on_bad=True))
    with pytest.raises(InputError, match="no 'domain'"):
        run(CollectConfig(inputs=[str(inp / "docs" / "doc1.md")], out=str(tmp_path / "o3"), fail_on_bad=True))


@pytest.mark.slow
def test_a_file_listed_by_two_inputs_is_read_once(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inp = tmp_path / "in"
    _write_inputs(inp)
    args = dict(domain="legal", min_bytes=100, max_bytes=600)
    once = run(CollectConfig(inputs=[str(inp)], out=str(tmp_path / "a"), **args))
    said: list[str] = []
    inputs = [str(inp), str(inp / "records.jsonl"), str(inp / "docs")]
    twice = run(CollectConfig(inputs=inputs, out=str(tmp_path / "b"), **args), said.append)
    assert twice["domains"] == once["domains"]
    for domain, info in twice["domains"].items():  # what the manifest counts is what the files hold
        assert sum(len(_rows(Store(str(tmp_path / "b")), domain, s)) for s in ("train", "val", "test")) == info["records"]
    assert any("listed by more than one input and read once" in m for m in said)


def test_staged_rows_must_match_the_selection(tmp_path: Path) -> None:
    import pandas as pd

    from jobs.collect import _check_staged
    from nbmf.errors import NBMFError

    out = Store(str(tmp_path))
    staging = out.child("datasets", "_staging")
    part = tmp_path / "datasets" / "_staging" / "domain=legal" / "split=train"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), part / "0.parquet")
    _check_staged(out, staging, pd.DataFrame({"domain": ["legal"] * 3, "split": ["train"] * 3}))
    with pytest.raises(NBMFError, match="legal/train: 3 rows written for 2 selected records"):
        _check_staged(out, staging, pd.DataFrame({"domain": ["legal"] * 2, "split": ["train"] * 2}))


def test_unreadable_file_becomes_a_named_malformed_row(tmp_path: Path) -> None:
    import pyarrow.fs as pafs

    from jobs.record_source import RecordFiles

    good = tmp_path / "a.jsonl"
    good.write_text(json.dumps({"id": "1", "text": PARA.format(i=1, d=1) * 3}) + "\n")
    files = [(0, str(good), good.stat().st_size, "legal"), (0, str(tmp_path / "gone.jsonl"), 10, "legal")]
    source = RecordFiles([pafs.LocalFileSystem()], files, (100, 600, 0, 0.05, 0.1, False))
    tasks = source.get_read_tasks(4)
    assert len(tasks) == 2  # one per file, never more tasks than files
    rows = [r for t in tasks for block in t() for r in block.to_pylist()]
    bad = [r["bad"] for r in rows if r["bad"]]
    assert len(bad) == 1 and bad[0].startswith(f"{tmp_path / 'gone.jsonl'}: cannot read (")
    assert any(r["text"] and r["domain"] == "legal" for r in rows)


def test_storage_that_stops_answering_fails_naming_the_file() -> None:
    import pyarrow.fs as pafs
    from tests_support import free_ports

    from jobs.record_source import RecordFiles
    from nbmf.errors import StorageError

    (port,) = free_ports(1)  # nothing listens there
    dead = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key="k", secret_key="s", region="us-east-1",
        connect_timeout=1, request_timeout=1, retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    )  # fmt: skip
    source = RecordFiles([dead], [(0, "bucket/raw/a.jsonl", 100, "legal")], (100, 600, 0, 0.05, 0.1, False))
    (task,) = source.get_read_tasks(1)
    with pytest.raises(StorageError, match="bucket/raw/a.jsonl"):
        list(task())
