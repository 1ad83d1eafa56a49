import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nbmf.shaping import RECORD_SCHEMA, _read_table, _shape_arrow, shape_file

ARGS = (200, 600, 0, 0.05, 0.1)
PARA = "Clause {i}. The licensee shall keep this notice and every copyright line intact in all copies of document {d}."


def _both(path: str, data: bytes, domain: str | None = "legal", near: bool = False) -> tuple[pa.Table, pa.Table]:
    fast = shape_file(path, data, domain, *ARGS, near=near)
    slow = shape_file(path, data, domain, *ARGS, near=near, vectorised=False)
    assert fast.schema == slow.schema == RECORD_SCHEMA
    return fast, slow


def _sorted(t: pa.Table) -> list[dict]:
    return sorted(t.to_pylist(), key=lambda r: (r["rid"] or "", r["bad"] or ""))


def _jsonl(rows: list, blank: bool = False) -> bytes:
    sep = "\n\n" if blank else "\n"
    return (sep.join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n").encode()


CASES = {
    "plain": [{"id": f"r{i}", "source": f"doc{i % 7}", "text": PARA.format(i=i, d=i % 7) * 3} for i in range(50)],
    "export": [
        {"id": i + 1, "domain": "financial", "type": "text", "data": PARA.format(i=i, d=0) * 2, "metadata": {"source": f"m{i % 3}"}}
        for i in range(20)
    ],
    "long_and_unicode": [{"text": "\n\n".join(PARA.format(i=k, d=i) * 2 for k in range(12)), "domain": "legal"} for i in range(4)]
    + [{"text": "Cafe\u0301 \u00e9t\u00e9 \r\n" * 40, "source": "", "id": 0}],
    "ids_and_defaults": [{"id": f"x{i}", "text": PARA.format(i=i, d=1) * 2, "domain": ""} for i in range(10)],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("blank", [False, True])
def test_vectorised_path_matches_row_path(case: str, blank: bool) -> None:
    data = _jsonl(CASES[case], blank)
    table = _read_table("in/x.jsonl", data)
    assert table is not None and _shape_arrow(table, "in/x.jsonl", data, "legal", *ARGS, near=False) is not None
    fast, slow = _both("in/x.jsonl", data, near=case == "plain")
    assert _sorted(fast) == _sorted(slow)
    assert fast.num_rows >= len(CASES[case])
    assert max(fast.column("nbytes").to_pylist()) <= ARGS[1]


@pytest.mark.parametrize("ending", ["crlf", "no_final_newline", "blank_crlf"])
def test_line_numbers_match_the_row_path_whatever_the_line_endings(ending: str) -> None:
    data = _jsonl(CASES["long_and_unicode"], blank=ending == "blank_crlf")
    data = data.rstrip(b"\n") if ending == "no_final_newline" else data.replace(b"\n", b"\r\n")
    table = _read_table("in/x.jsonl", data)
    assert table is not None and _shape_arrow(table, "in/x.jsonl", data, "legal", *ARGS, near=False) is not None
    fast, slow = _both("in/x.jsonl", data)
    assert _sorted(fast) == _sorted(slow)


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_parquet_takes_the_vectorised_path_too(kind: pa.DataType) -> None:
    table = pa.table({"id": [f"p{i}" for i in range(30)], "text": pa.array([PARA.format(i=i, d=2) * 2 for i in range(30)], kind)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    assert _shape_arrow(_read_table("a/b.parquet", data), "a/b.parquet", data, "legal", *ARGS, near=False) is not None
    fast, slow = _both("a/b.parquet", data)
    assert _sorted(fast) == _sorted(slow)


@pytest.mark.parametrize(
    "data",
    [
        b'{"text": "ok ' + b"x" * 300 + b'"}\n{not json\n',  # malformed line
        b'{"text": "a\xff b' + b"x" * 300 + b'"}\n',  # invalid UTF-8
        b'{"id": "a", "data": {"k": 1}}\n',  # a JSON value
        b'{"text": 5}\n',  # wrong type
    ],
)
def test_what_arrow_cannot_decide_goes_the_row_path(data: bytes) -> None:
    fast, slow = _both("in/y.jsonl", data)
    assert _sorted(fast) == _sorted(slow)


def test_missing_domain_is_reported_not_guessed() -> None:
    data = _jsonl([{"text": PARA.format(i=1, d=1) * 2}])
    fast, slow = _both("in/z.jsonl", data, domain=None)
    assert _sorted(fast) == _sorted(slow)
    assert "no 'domain'" in fast.column("bad")[0].as_py()
