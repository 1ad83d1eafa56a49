"""Primed states kept on the node's disk: priming runs once per node, every later load reads the file.

    files (sha256-checked) --key: sha256 of weights + reference, CM config, priming code's hash--> <dir>/<key>.primed
    first load on a node:  prime (3-5 µs per reference byte) -> write <key>.primed (atomic rename)
    every later load:      read the arrays into memory -> check their xxh3-128 against the file's header
                           -> the state, in a fraction of a second

The arrays are read into ordinary (anonymous) memory, not mapped: coding writes into the tables (and
undoes the writes), and measured on the 2-core machine a copy-on-write file mapping decoded 30-80 %
slower than memory numpy allocates (which the kernel can back with huge pages; a file mapping it
does not), while reading 300 MB from the page cache costs a tenth of a second. The file carries an
xxh3-128 of its arrays, checked on every load; a file that fails it is deleted and the state primed
again. A primed state is what every frame of its version is decoded with: the check keeps a damaged
file from ever coding a record.

Between nodes: ``pack`` compresses the same file format (zstd, ~1/3 of the tables) for a ``Shelf`` (the
registry keeps one per model version, ``nbmf.registry.PrimedShelf``); ``unpack`` writes it as this node's
file and reads it back through the same check. A node's first load thus unpacks in about a second what
another node primed, instead of priming for most of a minute.

Where: ``$NBMF_PRIMED_CACHE`` (a directory; ``off`` disables), else ``$XDG_CACHE_HOME/nbmf/primed``
(``~/.cache/nbmf/primed``). The directory is created 0700; ``$NBMF_PRIMED_CACHE_MAX_GB`` (default 16)
bounds it: the least recently used files go first.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import xxhash
import zstandard as zstd

log = logging.getLogger(__name__)

ENV_DIR = "NBMF_PRIMED_CACHE"
ENV_MAX_GB = "NBMF_PRIMED_CACHE_MAX_GB"
MAGIC = b"NBMFPRIM"
FORMAT = 1
ALIGN = 4096  # arrays start on page boundaries
SUFFIX = ".primed"
SHELF_LEVEL = 3  # 318 MB of tables -> ~105 MB


def cache_dir() -> Path | None:
    """The node's primed-state directory (None: the cache is off)."""
    env = os.environ.get(ENV_DIR, "").strip()
    if env.lower() in ("off", "0", "none", "false"):
        return None
    if env:
        return Path(env)
    from nbmf.storage import cache_home

    return Path(cache_home()) / "primed"


def _raw(a: np.ndarray) -> memoryview:
    """An array's bytes, without a copy."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8).data


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = xxhash.xxh3_128()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(_raw(arrays[name]))
    return h.hexdigest()


def _write(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """The file format, written front to back: magic, header length, JSON header (layout, digest), then
    each array on a page boundary."""
    layout = {}
    offset = 0
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        layout[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
        offset += -(-a.nbytes // ALIGN) * ALIGN
    head = json.dumps({"format": FORMAT, "digest": _digest(arrays), "arrays": layout}).encode()
    start = MAGIC + len(head).to_bytes(8, "little") + head
    f.write(start + bytes(-len(start) % ALIGN))
    for name in sorted(arrays):
        raw = _raw(arrays[name])
        f.write(raw)
        f.write(bytes(-len(raw) % ALIGN))


def save(key: str, arrays: dict[str, np.ndarray]) -> Path | None:
    """Write ``arrays`` as ``<key>.primed`` (atomically); None when the cache is off or the disk refuses."""
    return _save_with(cache_dir(), key, lambda f: _write(f, arrays))


def _save_with(d: Path | None, key: str, write: Callable[[BinaryIO], None]) -> Path | None:
    if d is None:
        return None
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, d / f"{key}{SUFFIX}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(d)
        return d / f"{key}{SUFFIX}"
    except OSError as exc:  # a full or read-only disk costs the next load its priming, nothing else
        log.warning("could not keep a primed state on disk (%s): %s", d, exc)
        return None


def load(key: str) -> dict[str, np.ndarray] | None:
    """The arrays of ``<key>.primed``, read and checked; None when absent or bad (then deleted)."""
    d = cache_dir()
    if d is None:
        return None
    path = d / f"{key}{SUFFIX}"
    try:
        image = np.fromfile(path, dtype=np.uint8)  # one read into ordinary memory; the arrays are views of it
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _discard(path, f"unreadable: {exc}")
    try:
        arrays = _parse(image)
    except ValueError as exc:
        return _discard(path, str(exc))
    os.utime(path)  # least recently used goes first when the directory is pruned
    return arrays


def _parse(image: np.ndarray) -> dict[str, np.ndarray]:
    """The checked arrays of a file image (uint8, writable): views into it. ValueError says what is wrong."""
    start = image[: len(MAGIC) + 8].tobytes()
    if len(start) < len(MAGIC) + 8 or start[: len(MAGIC)] != MAGIC:
        raise ValueError("not a primed-state file")
    meta_len = int.from_bytes(start[len(MAGIC) :], "little")
    if meta_len > 1 << 20:
        raise ValueError(f"unreadable: a header of {meta_len} bytes")
    head_len = len(MAGIC) + 8 + meta_len
    try:
        meta = json.loads(image[len(MAGIC) + 8 : head_len].tobytes())
    except ValueError as exc:
        raise ValueError(f"unreadable: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format') if isinstance(meta, dict) else '?'} (this nbmf writes {FORMAT})")
    data_start = -(-head_len // ALIGN) * ALIGN
    try:
        arrays = {}
        for name, a in meta["arrays"].items():
            dtype = np.dtype(a["dtype"])
            shape = tuple(int(x) for x in a["shape"])
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            lo = data_start + int(a["offset"])
            if lo < data_start or lo + nbytes > image.size:
                raise ValueError(f"{name}: past the end of the file (truncated)")
            arrays[name] = image[lo : lo + nbytes].view(dtype).reshape(shape)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"unreadable: {exc!r}") from None
    if _digest(arrays) != meta.get("digest"):
        raise ValueError("its arrays do not match their checksum")
    return arrays


# ---- sharing between nodes: the same file image, zstd-compressed in chunks, on a shelf (the registry) ----
class Shelf(Protocol):
    """Where nodes share primed states (``nbmf.registry.PrimedShelf``: next to the model version)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, blob: bytes) -> None: ...


SHELF_MAGIC = b"NBMFPRZ1"
CHUNK = 16 << 20  # chunks compress and decompress in parallel threads (zstandard releases the GIL)
MAX_STATE = 16 << 30  # no configuration allocates more (2^26-slot tables would be ~2.5 GB)


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    """A primed state as a shelf keeps it: its file image in 16 MiB chunks, each a zstd frame (~1/3 of the
    tables), behind a header of their sizes."""
    f = io.BytesIO()
    _write(f, arrays)
    image = f.getbuffer()
    pieces = [image[i : i + CHUNK] for i in range(0, len(image), CHUNK)]
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        frames = list(pool.map(lambda p: zstd.ZstdCompressor(level=SHELF_LEVEL).compress(p), pieces))
    head = json.dumps({"raw": [len(p) for p in pieces], "zst": [len(z) for z in frames]}).encode()
    return b"".join([SHELF_MAGIC, len(head).to_bytes(4, "little"), head, *frames])


def unpack(key: str, blob: bytes) -> dict[str, np.ndarray] | None:
    """Arrays from a shelf's blob (views of one buffer), checked like a file of this node's; the node keeps
    the image as its file when the cache is on. None when the blob is not a good primed state."""
    try:
        if blob[: len(SHELF_MAGIC)] != SHELF_MAGIC:
            raise ValueError("not a shared primed state")
        head_len = int.from_bytes(blob[len(SHELF_MAGIC) : len(SHELF_MAGIC) + 4], "little")
        at = len(SHELF_MAGIC) + 4
        meta = json.loads(blob[at : at + head_len])
        raw, zst = [int(x) for x in meta["raw"]], [int(x) for x in meta["zst"]]
        if len(raw) != len(zst) or any(n < 0 or n > CHUNK for n in raw) or sum(zst) != len(blob) - at - head_len:
            raise ValueError("its chunk table does not add up")
        if sum(raw) > MAX_STATE:
            raise ValueError(f"it claims {sum(raw)} bytes, over the {MAX_STATE}-byte limit")
        image = np.empty(sum(raw), np.uint8)
        view = memoryview(image)  # type: ignore[arg-type]
        jobs, src, dst = [], at + head_len, 0
        for r, z in zip(raw, zst):
            jobs.append((src, z, dst, r))
            src, dst = src + z, dst + r

        def one(job: tuple[int, int, int, int]) -> None:
            s, z, d, r = job
            out = zstd.ZstdDecompressor().decompress(blob[s : s + z], max_output_size=r)
            if len(out) != r:
                raise ValueError("a chunk decompressed to the wrong size")
            view[d : d + r] = out

        with ThreadPoolExecutor(max_workers=_threads()) as pool:
            list(pool.map(one, jobs))
        arrays = _parse(image)
    except (ValueError, KeyError, TypeError, MemoryError, zstd.ZstdError) as exc:
        log.warning("a shared primed state for %s is not usable (%s): priming instead", key, exc)
        return None
    # this node keeps it: the image is the file's bytes. Written before the arrays are handed out: coding
    # writes into the tables (and undoes it), so a writer running beside it could save a half-coded record.
    _save_with(cache_dir(), key, lambda f: _write_all(f, view))
    return arrays


def _write_all(f: BinaryIO, data: memoryview) -> None:
    f.write(data)


def _threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _discard(path: Path, why: str) -> dict[str, np.ndarray] | None:
    """Delete a primed-state file that cannot be used; None (the caller primes again)."""
    log.warning("primed state %s is %s: priming again", path, why)
    path.unlink(missing_ok=True)
    return None


def _prune(d: Path) -> None:
    limit = float(os.environ.get(ENV_MAX_GB, "16")) * (1 << 30)
    for tmp in d.glob(f".tmp-*{SUFFIX}"):  # left by a process that died while writing
        with contextlib.suppress(OSError):
            if time.time() - tmp.stat().st_mtime > 3600:
                tmp.unlink()
    files = sorted((p for p in d.glob(f"*{SUFFIX}") if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime, reverse=True)
    total = 0
    for p in files:
        total += p.stat().st_size
        if total > limit:
            p.unlink(missing_ok=True)
