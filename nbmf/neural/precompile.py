"""The compiled kernel, ready before the first record: numba compiles ``kernel.process`` once per combination of
argument types it meets (about 40 s each on one core), and keeps it in its cache (``__pycache__`` beside the source,
or ``NUMBA_CACHE_DIR``), from which a later process loads it in a second or two.

A version codes its records with two of them: one with int32 mixer weights (every record that cannot move a weight
out of int32) and one with int64 weights (priming, and a record long enough to; ``cm.CMState._fits_int32``), each
for the type of its predictor's first-layer table (int16 for the models built here, int32 where the values are
larger; ``cm.NeuralWeights``). A node whose primed state comes from its disk or the registry's shelf does not prime,
so without this its first record, and its first long record, would wait for the compiler. Loading a version
(``nbmf.models.ModelService.load``, so a Serve replica before it takes traffic) readies the first; an image compiles
both when it is built (``nbmf compile-kernel``; the Dockerfile), for the CPU it is built on (numba's cache holds
code per CPU model: a node of another one compiles once more, into the same cache).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from nbmf.errors import CodecError
from nbmf.neural.cm import CMConfig, CMState, NeuralWeights

FIRST_LAYERS = ("int16", "int32")  # the first-layer table's types a model can have (``NeuralWeights.__post_init__``)
SAMPLE = b'{"id": 7, "note": "the quick brown fox jumps over the lazy dog", "tags": ["a", "b"]}\n'

# a few MB of tables and weights (the default config's mixers hold 135 MB of weights whatever the tables' size)
TINY = CMConfig(orders=(2, 3), table_bits=12, match_bits=12, contexts=(), mixers=2, wide_mixers=False, maps=False)
_ready: set[tuple[str, bool]] = set()  # (first-layer type, with int64 weights) readied in this process
_lock = threading.Lock()


def _weights(first_layer: str) -> NeuralWeights:
    """Neural weights whose first-layer table ``NeuralWeights`` keeps as ``first_layer`` (the values decide)."""
    P = np.zeros((1, 256, 1), np.int64)
    if first_layer == "int32":
        P[0, 0, 0] = 1 << 16  # beyond int16
    elif first_layer != "int16":
        raise ValueError(f"a first-layer table is int16 or int32, not {first_layer!r}")
    return NeuralWeights(P, np.zeros(1, np.int64), np.zeros((256, 1), np.int64), np.zeros(256, np.int64), 0, 0, 0)


def _unprimed(config: CMConfig, nn: NeuralWeights) -> CMState:
    """A state that codes records from nothing (its history a lone \\0): no priming, so no compiled priming code."""
    cfg, T, W, H = CMState.allocate(config, 0, nn)
    return CMState(config, nn, cfg, T, W, H, 1)


def compile_kernel(first_layers: tuple[str, ...] = ("int16",), wide: bool = True) -> dict[str, float]:
    """Have the kernel's compiled code for ``first_layers`` in this process: compiled, or loaded from numba's cache.
    A tiny state codes a record on int32 weights; with ``wide`` it is primed first (int64 weights) and codes the record
    on int64 weights too (the code priming uses); each decoded again: the types a version's records meet, whatever its
    tables' sizes.
    Returns the seconds each type took here (none for one readied before in this process)."""
    took: dict[str, float] = {}
    with _lock:  # one thread compiles, the others wait for it instead of compiling too
        for first_layer in first_layers:
            if (first_layer, wide) in _ready or (first_layer, True) in _ready:
                continue
            t0 = time.perf_counter()
            nn = _weights(first_layer)
            cfg = TINY  # the code is the same for any config: its types are what numba compiles for
            # priming on int64 weights: without ``wide`` the state is put together instead (no compiled code needed)
            state = CMState.build(cfg, SAMPLE * 4, nn) if wide else _unprimed(cfg, nn)
            narrow = state.encode(SAMPLE, 2 * len(SAMPLE) + 64)
            if state.decode(narrow, len(SAMPLE)) != SAMPLE:
                raise CodecError("the compiled kernel did not decode what it encoded")  # never: a broken install
            if wide:
                state.wmax = 2**31  # as if a weight lay at the edge of int32: the record is coded on an int64 copy
                again = state.encode(SAMPLE, 2 * len(SAMPLE) + 64)
                if again != narrow or state.decode(again, len(SAMPLE)) != SAMPLE:
                    raise CodecError("the compiled kernel coded other bytes on int64 weights than on int32 ones")
            _ready.add((first_layer, wide))
            took[first_layer] = time.perf_counter() - t0
    return took
