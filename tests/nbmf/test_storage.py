from pathlib import Path

import pytest

from nbmf.errors import ConflictError, StorageError
from nbmf.storage import S3Options, Store


def test_read_write_list_exists(storage_uri: str) -> None:
    s = Store(storage_uri)
    s.write_bytes("a/b.txt", b"hello")
    s.write_bytes("a/c.txt", b"")
    assert s.read_bytes("a/b.txt") == b"hello"
    assert s.exists("a/b.txt") and not s.exists("a/zz")
    assert s.list("a") == ["b.txt", "c.txt"]
    assert s.list("missing") == []
    assert s.child("a").read_bytes("b.txt") == b"hello"
    with pytest.raises(StorageError, match="does not exist"):
        s.read_bytes("nope")


def test_conditional_writes(storage_uri: str) -> None:
    s = Store(storage_uri)
    assert s.put_if_absent("k", b"1")
    assert not s.put_if_absent("k", b"2")
    data, tag = s.read_versioned("k")
    assert data == b"1"
    s.compare_and_swap("k", b"3", tag)
    with pytest.raises(ConflictError):
        s.compare_and_swap("k", b"4", tag)  # stale tag
    assert s.read_bytes("k") == b"3"


def test_endpoint_from_environment(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # pyarrow ignores AWS_ENDPOINT_URL; the storage layer must apply it
    bucket_uri, _, query = s3_bucket.partition("?")
    monkeypatch.setenv("AWS_ENDPOINT_URL", query.split("=", 1)[1])
    s = Store(bucket_uri)
    s.write_bytes("env.txt", b"ok")
    assert Store(s3_bucket).read_bytes("env.txt") == b"ok"
    assert s.path.startswith(bucket_uri[5:].split("/")[0])  # bucket/prefix form for Ray


def test_unreachable_endpoint_names_it() -> None:
    s = Store("s3://bucket/x", S3Options(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b"))
    with pytest.raises(StorageError, match="127.0.0.1:9"):
        s.read_bytes("y")


def test_bad_uri() -> None:
    with pytest.raises(StorageError, match="unsupported"):
        Store("gs://x/y")


def test_listing_while_a_writer_creates_the_directory(tmp_path: object) -> None:
    """A listing that races the creation of its directory sees it absent or present, never an error."""
    import threading

    errors: list[BaseException] = []
    for trial in range(60):
        s = Store(f"{tmp_path}/t{trial}")
        stop = threading.Event()

        def lister(store: Store = s, done: threading.Event = stop) -> None:
            try:
                while not done.is_set():
                    store.list("d")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=lister)
        t.start()
        for i in range(20):
            s.put_if_absent(f"d/{i}/.claim", b"x")
        stop.set()
        t.join(30)
        assert sorted(s.list("d"), key=int) == [str(i) for i in range(20)]
    assert not errors


def test_a_resolved_uri_names_the_same_place_from_another_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    local = Store("data").resolved_uri
    assert local == str(tmp_path / "data")
    monkeypatch.chdir("/")
    assert Store(local).path == str(tmp_path / "data")
    uri = "s3://bucket/prefix?endpoint_override=http://127.0.0.1:9000"
    assert Store(uri).resolved_uri == uri  # the endpoint stays with it
