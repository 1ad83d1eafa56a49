import json
import shutil
from pathlib import Path

import pytest

from nbmf import corpus
from nbmf.synthetic_financial import accounts


def test_financial_generator_is_seeded_and_emits_compact_json() -> None:
    a = list(accounts(n_accounts=6, records_per_account=10, seed=7))
    assert a == list(accounts(n_accounts=6, records_per_account=10, seed=7))  # same seed, same bytes
    assert a != list(accounts(n_accounts=6, records_per_account=10, seed=8))
    kinds = set()
    for _, recs in a:
        for rec in recs:
            value = json.loads(rec)
            assert json.dumps(value, ensure_ascii=False, separators=(",", ":")) == rec  # what the payload layer codes
            kinds.add(value["type"])
    assert {"card_transaction", "invoice", "trade_execution"} <= kinds


def test_financial_generator_output_is_pinned() -> None:
    """Nodes rebuild the corpus independently and benchmarks cite it: a change must bump VERSION (and this digest)."""
    import hashlib

    from nbmf.synthetic_financial import VERSION

    digest = hashlib.sha256(repr(list(accounts(n_accounts=5, records_per_account=8, seed=3))).encode()).hexdigest()
    assert (VERSION, digest) == (1, "eafea2b4ab092536de5cbbb5eb2452ef48c62fd0868ba26b23fb1a96296eeb67")


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "nbmf" / "corpus"


def test_builtin_financial_and_general_domains(cache_home: Path) -> None:
    fin = list(corpus.local_records("financial", limit=400))
    assert len(fin) == 400
    assert all(200 <= len(r["text"].encode()) <= 4096 and r["domain"] == "financial" for r in fin)
    assert all(isinstance(json.loads(r["text"]), dict) for r in fin)
    sources = {r["source"] for r in fin}
    assert 1 < len(sources) < 400  # records grouped by account: a split by document keeps an account together
    gen = list(corpus.local_records("general", limit=50))
    assert len(gen) == 50 and all(r["domain"] == "general" for r in gen)
    assert any("pydoc-" in r["source"] for r in gen)  # Python's documentation prose
    assert (cache_home / "v1" / "general").is_dir() and (cache_home / "v1" / "financial").is_dir()


def test_a_made_file_is_rebuilt_byte_for_byte_where_it_is_missing(cache_home: Path) -> None:
    paths = corpus._sources({"financial"})["financial"]
    assert len(paths) == corpus.FINANCIAL_FILES
    before = Path(paths[3]).read_bytes()
    shutil.rmtree(cache_home)  # a node that has not made the corpus yet
    assert corpus.rebuild_if_builtin(paths[3])
    assert Path(paths[3]).read_bytes() == before
    assert not corpus.rebuild_if_builtin(str(cache_home / "v1" / "nope" / "x.jsonl"))
    assert not corpus.rebuild_if_builtin("/nonexistent/file.txt")


def test_only_asked_domains_are_made(cache_home: Path) -> None:
    assert set(corpus._sources({"technical"})) == {"technical"}
    assert not cache_home.exists()


def test_unknown_builtin_domain_is_refused(tmp_path: Path) -> None:
    from jobs.collect import CollectConfig, run
    from nbmf.errors import InputError

    with pytest.raises(InputError, match="no built-in domain medical"):
        run(CollectConfig(inputs=["builtin:legal,medical"], out=str(tmp_path / "o")))


@pytest.mark.slow
def test_collect_builtin_financial_splits_by_account(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq

    from jobs.collect import CollectConfig, run

    man = run(CollectConfig(inputs=["builtin:financial"], out=str(tmp_path / "o"), cap=600))
    assert set(man["domains"]) == {"financial"} and man["domains"]["financial"]["records"] == 600
    by_split: dict[str, set[str]] = {}
    for split in ("train", "val", "test"):
        d = tmp_path / "o" / "datasets" / "financial" / split
        rows = [r for f in sorted(d.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        assert all(json.loads(r["text"]) for r in rows)
        by_split[split] = {r["source"] for r in rows}
    assert by_split["train"] and not by_split["train"] & (by_split["val"] | by_split["test"])


def test_a_cache_that_cannot_be_written_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbmf.errors import InputError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(InputError, match="cannot write the built-in financial corpus .* set XDG_CACHE_HOME"):
        corpus._sources({"financial"})
    assert corpus._sources({"legal"})  # what is found, not made, needs no cache
