"""Scratch copies of the kernel, each measured with and without the registry's predictor (#15's share probes).

``shares(domain, registry, records, variants, prefix)`` writes each variant's kernel source under a temporary
directory (the shipped ``nbmf/neural/kernel.py`` is not touched), loads it in place of the kernel, primes version 1 of
the domain twice, with and without its neural input, codes the first ``records`` held-out records of
data/corpus/DOMAIN.jsonl with each and prints the payload bytes and the share (bytes without / bytes with - 1).
Used by ``nn_apm_headroom.py`` and ``nn_byte_context.py``.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from nbmf.neural import cm
from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry

KERNEL = Path(__file__).parents[1] / "nbmf" / "neural" / "kernel.py"


def sub(src: str, old: str, new: str) -> str:
    """``src`` with its one ``old`` replaced (a kernel that has changed stops the script)."""
    if src.count(old) != 1:
        raise SystemExit(f"the kernel has changed: {old.strip()[:60]!r} found {src.count(old)} times")
    return src.replace(old, new)


def load_kernel(path: Path, source: str) -> ModuleType:
    """Write ``source`` (a scratch kernel) to ``path``, import it under its file name and make it the kernel ``CMState``
    codes with (``cm.K``)."""
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod  # numba's on-disk cache finds the module by this name
    spec.loader.exec_module(mod)
    cm.K = mod
    return mod


def shares(domain: str, registry: str, records: int, variants: Iterable[str], source: Callable[[str], str], prefix: str) -> None:
    test = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))["test"][:records]
    w, ref, cmp, _ = unpack_files(Registry(registry).load_files(domain, 1)[1])
    tmp = Path(tempfile.mkdtemp(prefix=f"nbmf-{prefix}-"))
    for v in variants:
        load_kernel(tmp / f"kernel_{prefix}_{v}.py", source(v))
        sizes = {}
        for use in (True, False):
            st = CMState.build(cm_config(cmp), ref, w, use_nn=use)
            sizes[use] = sum(len(st.encode(x, 2 * len(x) + 64)) for x in test)
            del st
        total = sum(map(len, test))
        print(
            f"{domain} {v}: with nn {sizes[True]} ({total / sizes[True]:.4f}x), without {sizes[False]}, "
            f"share {100 * (sizes[False] / sizes[True] - 1):+.2f} %",
            flush=True,
        )
