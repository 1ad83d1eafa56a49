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

Where: ``$NBMF_PRIMED_CACHE`` (a directory; ``off`` disables), else ``$XDG_CACHE_HOME/nbmf/primed``
(``~/.cache/nbmf/primed``). The directory is created 0700; ``$NBMF_PRIMED_CACHE_MAX_GB`` (default 16)
bounds it: the least recently used files go first.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import xxhash

log = logging.getLogger(__name__)

ENV_DIR = "NBMF_PRIMED_CACHE"
ENV_MAX_GB = "NBMF_PRIMED_CACHE_MAX_GB"
MAGIC = b"NBMFPRIM"
FORMAT = 1
ALIGN = 4096  # arrays start on page boundaries
SUFFIX = ".primed"


def cache_dir() -> Path | None:
    """The node's primed-state directory (None: the cache is off)."""
    env = os.environ.get(ENV_DIR, "").strip()
    if env.lower() in ("off", "0", "none", "false"):
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbmf" / "primed"


def _raw(a: np.ndarray) -> memoryview:
    """An array's bytes, without a copy."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8).data


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = xxhash.xxh3_128()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(_raw(arrays[name]))
    return h.hexdigest()


def save(key: str, arrays: dict[str, np.ndarray]) -> Path | None:
    """Write ``arrays`` as ``<key>.primed`` (atomically); None when the cache is off or the disk refuses."""
    d = cache_dir()
    if d is None:
        return None
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        meta: dict[str, object] = {"format": FORMAT, "digest": _digest(arrays), "arrays": {}}
        offset = 0
        layout = {}
        for name in sorted(arrays):
            a = np.ascontiguousarray(arrays[name])
            layout[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
            offset += -(-a.nbytes // ALIGN) * ALIGN
        meta["arrays"] = layout
        head = json.dumps(meta).encode()
        data_start = -(-(len(MAGIC) + 8 + len(head)) // ALIGN) * ALIGN
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + len(head).to_bytes(8, "little") + head)
                for name in sorted(arrays):
                    f.seek(data_start + int(layout[name]["offset"]))  # type: ignore[call-overload]
                    f.write(_raw(arrays[name]))
                f.truncate(data_start + offset)
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
        with open(path, "rb") as f:
            start = f.read(len(MAGIC) + 8)
            if len(start) < len(MAGIC) + 8 or start[: len(MAGIC)] != MAGIC:
                raise ValueError("not a primed-state file")
            meta_len = int.from_bytes(start[len(MAGIC) :], "little")
            if meta_len > 1 << 20:
                raise ValueError(f"a header of {meta_len} bytes")
            head_len = len(MAGIC) + 8 + meta_len
            meta = json.loads(f.read(head_len - len(MAGIC) - 8))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return _discard(path, f"unreadable: {exc}")
    if meta.get("format") != FORMAT:
        return _discard(path, f"format {meta.get('format')} (this nbmf writes {FORMAT})")
    data_start = -(-head_len // ALIGN) * ALIGN
    try:
        arrays = {}
        for name, a in meta["arrays"].items():
            shape = tuple(int(x) for x in a["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            flat = np.fromfile(path, dtype=np.dtype(a["dtype"]), count=count, offset=data_start + int(a["offset"]))
            if flat.size != count:
                raise ValueError(f"{name}: {flat.size} of {count} values (truncated)")
            arrays[name] = flat.reshape(shape)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _discard(path, f"unreadable: {exc}")
    if _digest(arrays) != meta.get("digest"):
        return _discard(path, "its arrays do not match their checksum")
    os.utime(path)  # least recently used goes first when the directory is pruned
    return arrays


def _discard(path: Path, why: str) -> dict[str, np.ndarray] | None:
    """Delete a primed-state file that cannot be used; None (the caller primes again)."""
    log.warning("primed state %s is %s: priming again", path, why)
    path.unlink(missing_ok=True)
    return None


def _prune(d: Path) -> None:
    limit = float(os.environ.get(ENV_MAX_GB, "16")) * (1 << 30)
    files = sorted((p for p in d.glob(f"*{SUFFIX}") if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime, reverse=True)
    total = 0
    for p in files:
        total += p.stat().st_size
        if total > limit:
            p.unlink(missing_ok=True)
