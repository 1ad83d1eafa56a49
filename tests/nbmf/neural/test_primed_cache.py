"""Primed states on the node's disk: written once, mapped after, checked on every load, never trusted blindly."""

import gc
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
