"""Primed states on the node's disk: written once, mapped after, checked on every load, never trusted blindly."""

import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nbmf.neural import codec as ncodec
from nbmf.neural import primed_cache
from nbmf.neural.codec import primed_state


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(primed_cache.ENV_DIR, str(tmp_path / "primed"))
    ncodec._STATES.clear()  # as a new process would start
    return tmp_path / "primed"


def _forget() -> None:
    ncodec._STATES.clear()
    gc.collect()


def test_written_once_then_read_with_the_same_coding(tiny, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    files = tiny.files()
    first = primed_state(files)
    written = list(cache.glob("*.primed"))
    assert len(written) == 1 and cache.stat().st_mode & 0o777 == 0o700
    frames = [first.encode(r, max_out=2 * len(r) + 64) for r in tiny.test[:10]]
    snapshot = first.T.copy()
    del first
    _forget()
    from nbmf.neural.cm import CMState

    def no_priming(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("primed again although the state is on disk")

    monkeypatch.setattr(CMState, "build", classmethod(no_priming))
    mapped = primed_state(files)
    assert np.array_equal(mapped.T, snapshot)
    assert [mapped.encode(r, max_out=2 * len(r) + 64) for r in tiny.test[:10]] == frames
    assert [mapped.decode(f, len(r)) for f, r in zip(frames, tiny.test[:10])] == tiny.test[:10]
    assert np.array_equal(mapped.T, snapshot)  # coding wrote to the tables and undid it
    assert written[0].stat().st_size > 0 and list(cache.glob("*.primed")) == written  # nothing written again
    on_disk = primed_cache.load(written[0].name[: -len(".primed")])
    assert on_disk is not None and np.array_equal(on_disk["T"], snapshot)  # the file itself never changed


def test_another_process_reads_what_this_one_primed(tiny, cache: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = tiny.files()
    record = tiny.test[0]
    coded = primed_state(files).encode(record, max_out=2 * len(record) + 64)
    (tmp_path / "w").write_bytes(files["neural.safetensors"])
    (tmp_path / "r").write_bytes(files["reference.zst"])
    (tmp_path / "c").write_bytes(coded)
    script = (
        "import sys, time\n"
        "from nbmf.neural import cm\n"
        "from nbmf.neural.codec import primed_state\n"
        "built = []\n"
        "orig = cm.CMState.build\n"
        "cm.CMState.build = classmethod(lambda cls, *a, **k: built.append(1) or orig.__func__(cls, *a, **k))\n"
        f"d = '{tmp_path}'\n"
        "files = {'neural.safetensors': open(d + '/w', 'rb').read(), 'reference.zst': open(d + '/r', 'rb').read()}\n"
        "st = primed_state(files)\n"
        f"sys.stdout.write(st.decode(open(d + '/c', 'rb').read(), {len(record)}).hex() + ' ' + str(len(built)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, text=True).stdout.split()
    assert bytes.fromhex(out[0]) == record and out[1] == "0"  # decoded with the state from disk, nothing primed


def test_a_damaged_file_is_discarded_and_primed_again(tiny, cache: Path) -> None:  # type: ignore[no-untyped-def]
    files = tiny.files()
    ref_state = primed_state(files)
    record = tiny.test[1]
    coded = ref_state.encode(record, max_out=2 * len(record) + 64)
    del ref_state
    _forget()
    path = next(cache.glob("*.primed"))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40  # one bit flipped deep in the tables
    path.write_bytes(bytes(raw))
    again = primed_state(files)
    assert again.decode(coded, len(record)) == record
    assert path.read_bytes() != bytes(raw)  # discarded and written anew
    path.write_bytes(b"NBMFPRIM garbage")
    _forget()
    del again
    assert primed_state(files).decode(coded, len(record)) == record


def test_off_writes_nothing(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(primed_cache.ENV_DIR, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _forget()
    primed_state(tiny.files())
    assert primed_cache.cache_dir() is None and not list(tmp_path.rglob("*.primed"))


# ---- the registry's shelf: a node's first load unpacks what another node primed -------------------------
def _no_priming(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbmf.neural.cm import CMState

    def refuse(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("primed although the state is on the shelf")

    monkeypatch.setattr(CMState, "build", classmethod(refuse))


def _published(tiny, uri: str):  # type: ignore[no-untyped-def]
    from nbmf.registry import Registry

    reg = Registry(uri)
    return reg, reg.publish("technical", tiny.files())


def _fresh_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    monkeypatch.setenv(primed_cache.ENV_DIR, str(tmp_path / name))
    _forget()
    return tmp_path / name


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_fresh_node_unpacks_what_the_first_node_primed(tiny, tmp_path: Path, monkeypatch, where: str, request) -> None:  # type: ignore[no-untyped-def]
    from nbmf.artifact import DomainModel
    from nbmf.frame import CodecId

    uri = str(tmp_path / "reg") if where == "local" else request.getfixturevalue("s3_bucket")
    reg, man = _published(tiny, uri)
    _fresh_node(tmp_path, monkeypatch, "node-a")
    first = DomainModel.load(reg, "technical", man.version).codecs[CodecId.NEURAL]
    assert first.state.source == "primed"  # type: ignore[attr-defined]
    names = reg.primed("technical", man.version).names()
    assert len(names) == 1  # the node that primed put it on the shelf
    frames = [first.compress_unbounded(r) for r in tiny.test[:8]]  # type: ignore[attr-defined]
    snapshot = first.state.T.copy()  # type: ignore[attr-defined]
    del first

    node_b = _fresh_node(tmp_path, monkeypatch, "node-b")
    _no_priming(monkeypatch)
    second = DomainModel.load(reg, "technical", man.version).codecs[CodecId.NEURAL]
    assert second.state.source == "shelf" and np.array_equal(second.state.T, snapshot)  # type: ignore[attr-defined]
    assert [second.compress_unbounded(r) for r in tiny.test[:8]] == frames  # type: ignore[attr-defined]
    assert [second.decompress(f, len(r)) for f, r in zip(frames, tiny.test[:8])] == tiny.test[:8]
    assert len(list(node_b.glob("*.primed"))) == 1  # and this node keeps it: its next process reads its disk
    del second
    _forget()
    assert DomainModel.load(reg, "technical", man.version).codecs[CodecId.NEURAL].state.source == "node"  # type: ignore[attr-defined]


def test_a_damaged_or_unsigned_blob_is_refused_and_the_node_primes(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from nbmf.artifact import DomainModel
    from nbmf.frame import CodecId
    from nbmf.registry import MANIFEST_KEY_ENV

    monkeypatch.setenv(MANIFEST_KEY_ENV, "k1")
    reg, man = _published(tiny, str(tmp_path / "reg"))
    _fresh_node(tmp_path, monkeypatch, "node-a")
    record = tiny.test[0]
    coded = DomainModel.load(reg, "technical", man.version).codecs[CodecId.NEURAL].compress_unbounded(record)  # type: ignore[attr-defined]
    shelf = reg.primed("technical", man.version)
    (name,) = shelf.names()
    blob_path = tmp_path / "reg" / "models" / "technical" / str(man.version) / "primed" / f"{name}.zprimed"
    good = blob_path.read_bytes()

    def load_on_fresh_node(node: str) -> str:
        _fresh_node(tmp_path, monkeypatch, node)
        codec = DomainModel.load(reg, "technical", man.version).codecs[CodecId.NEURAL]
        assert codec.decompress(coded, len(record)) == record
        return str(codec.state.source)  # type: ignore[attr-defined]

    monkeypatch.setenv("NBMF_PRIMED_SHARE", "0")  # keep the shelf as the test leaves it
    blob_path.write_bytes(good[:-100] + bytes(100))  # damaged in storage: its sha256 no longer matches
    assert load_on_fresh_node("node-b") == "primed"
    blob_path.write_bytes(good)
    sidecar_path = blob_path.parent / f"{name}.json"
    signed = sidecar_path.read_text()
    sidecar_path.write_text(json.dumps({k: v for k, v in json.loads(signed).items() if k != "signature"}))
    assert load_on_fresh_node("node-c") == "primed"  # unsigned, and this node holds a key: refused
    sidecar_path.write_text(signed)
    assert load_on_fresh_node("node-d") == "shelf"
    # a blob whose sha256 and signature are right but whose arrays are not a state (a writer's bug): the
    # arrays' own checksum refuses it
    sidecar = json.loads((blob_path.parent / f"{name}.json").read_text())
    arrays = primed_cache.unpack(name, good)
    assert arrays is not None
    arrays["T"][len(arrays["T"]) // 2] ^= 1  # a writer's bug: the arrays change after their checksum was taken
    digest = primed_cache._digest
    monkeypatch.setattr(primed_cache, "_digest", lambda a: "0" * 32)
    bad = primed_cache.pack(arrays)
    monkeypatch.setattr(primed_cache, "_digest", digest)
    shelf.put(name, bad)
    assert json.loads((blob_path.parent / f"{name}.json").read_text())["sha256"] != sidecar["sha256"]
    assert load_on_fresh_node("node-e") == "primed"


def test_a_shelf_that_refuses_costs_other_nodes_their_priming_only(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:  # type: ignore[no-untyped-def]
    from nbmf.artifact import DomainModel
    from nbmf.errors import StorageError
    from nbmf.frame import CodecId
    from nbmf.registry import PrimedShelf

    reg, man = _published(tiny, str(tmp_path / "reg"))

    def broken(self, name, blob):  # type: ignore[no-untyped-def]
        raise StorageError("write s3://models/...: AccessDenied (read-only credentials)")

    monkeypatch.setattr(PrimedShelf, "put", broken)
    _fresh_node(tmp_path, monkeypatch, "node-a")
    monkeypatch.setenv(primed_cache.ENV_DIR, "off")  # and no node cache either: unpack reads a temporary file
    codec = DomainModel.load(reg, "technical", man.version).codecs[CodecId.NEURAL]
    assert codec.state.source == "primed" and "could not share primed state" in caplog.text  # type: ignore[attr-defined]
    assert codec.decompress(codec.compress_unbounded(tiny.test[2]), len(tiny.test[2])) == tiny.test[2]  # type: ignore[attr-defined]
    monkeypatch.undo()
    monkeypatch.setenv(primed_cache.ENV_DIR, "off")
    del codec
    _forget()
    DomainModel.load(reg, "technical", man.version)  # this one can write the shelf
    _forget()
    _no_priming(monkeypatch)
    off = DomainModel.load(reg, "technical", man.version).codecs[CodecId.NEURAL]
    assert off.state.source == "shelf"  # type: ignore[attr-defined]
    assert not list(tmp_path.rglob("*.primed"))  # with the node cache off nothing stays on this disk


def test_nbmf_prime_shares_the_serving_versions_states(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from nbmf.cli import app

    monkeypatch.setenv("NBMF_PRIMED_SHARE", "0")  # the loads below put nothing on the shelf by themselves
    reg, man = _published(tiny, str(tmp_path / "reg"))
    reg.promote("technical", man.version)
    _fresh_node(tmp_path, monkeypatch, "node-a")
    runner = CliRunner()
    first = runner.invoke(app, ["prime", "--registry", str(tmp_path / "reg")])
    assert first.exit_code == 0, first.output
    assert f"technical@{man.version}: shared (state primed here" in first.output
    assert len(reg.primed("technical", man.version).names()) == 1
    again = runner.invoke(app, ["prime", "--registry", str(tmp_path / "reg"), "--domain", "technical"])
    assert again.exit_code == 0 and "already shared" in again.output
    none = runner.invoke(app, ["prime", "--registry", str(tmp_path / "reg"), "--domain", "legal"])
    assert none.exit_code == 0 and "no production or canary version" in none.output
    missing = runner.invoke(app, ["prime", "--registry", str(tmp_path / "reg"), "--domain", "technical", "--version", "9"])
    assert missing.exit_code == 2 and "no model technical@9" in missing.output


def test_a_blob_that_lies_about_its_size_is_refused_before_anything_is_allocated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(primed_cache.ENV_DIR, str(tmp_path / "node"))

    def blob(raw: list[int], zst: list[int], body: bytes) -> bytes:
        head = json.dumps({"raw": raw, "zst": zst}).encode()
        return primed_cache.SHELF_MAGIC + len(head).to_bytes(4, "little") + head + body

    n = 2000  # 2,000 chunks of 16 MiB: 32 GiB claimed by 2 KB
    assert primed_cache.unpack("k", blob([primed_cache.CHUNK] * n, [1] * n, bytes(n))) is None
    assert primed_cache.unpack("k", blob([10], [5], bytes(4))) is None  # sizes that do not add up
    assert primed_cache.unpack("k", blob([10], [4], bytes(4))) is None  # not a zstd frame
    assert primed_cache.unpack("k", b"NBMFPRIM" + bytes(100)) is None  # a node file, not a shelf blob
    assert not list(tmp_path.rglob("*.primed"))  # nothing kept on the node
