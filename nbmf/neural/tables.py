"""Integer lookup tables shared by every predictor: squash/stretch (logistic in 12-bit fixed point)
and the adaptive-rate reciprocals. Built with integer arithmetic only, so they are identical on
every machine; this is where "probability" is defined for the whole model.
"""

from __future__ import annotations

import numpy as np

# squash(d) = 4096 / (1 + exp(-d / 256)), sampled every 128 and interpolated (as in lpaq1)
_SQUASH_KNOTS = np.array(
    [1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785, 3901,
     3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094],
    dtype=np.int64,
)  # fmt: skip


def _squash_scalar(d: int) -> int:
    if d > 2047:
        return 4095
    if d < -2047:
        return 1
    w = d & 127
    i = (d >> 7) + 16
    return int((_SQUASH_KNOTS[i] * (128 - w) + _SQUASH_KNOTS[i + 1] * w + 64) >> 7)


def build_squash() -> np.ndarray:
    """SQUASH[d + 2048] for d in [-2048, 2047] -> probability of a 1 in (0, 4096)."""
    return np.array([max(1, min(4095, _squash_scalar(d))) for d in range(-2048, 2048)], dtype=np.int64)


def build_stretch(squash: np.ndarray) -> np.ndarray:
    """STRETCH[p] for p in [0, 4095]: the inverse of squash (smallest d with squash(d) >= p)."""
    out = np.empty(4096, dtype=np.int64)
    pi = 0
    for x in range(-2047, 2048):
        v = int(squash[x + 2048])
        for i in range(pi, v + 1):
            out[i] = x
        pi = max(pi, v + 1)
    out[pi:] = 2047
    return out


def build_rates(limit: int = 1023) -> np.ndarray:
    """RATE[n] = 65536 / (n + 1.5): the adaptive learning rate of a counter seen n times."""
    return np.array([(65536 * 2) // (2 * n + 3) for n in range(limit + 1)], dtype=np.int64)


def build_byte_class() -> np.ndarray:
    """BYTE_CLASS[b]: the kind of byte b, 0..7 -- a lowercase letter, an uppercase one, a digit, a space, a line break or
    tab, a quote (' " `), a bracket ( ( ) [ ] { } < > ), anything else (punctuation, control, non-ASCII). The fourth
    mixer (artifact format 18) selects its weights by the kinds of the last three bytes."""
    out = np.full(256, 7, dtype=np.int64)
    for lo, hi, kind in ((97, 122, 0), (65, 90, 1), (48, 57, 2)):
        out[lo : hi + 1] = kind
    for chars, kind in ((b" ", 3), (b"\n\r\t", 4), (b"'\"`", 5), (b"()[]{}<>", 6)):
        out[list(chars)] = kind
    return out


SQUASH = build_squash()
STRETCH = build_stretch(SQUASH)
RATES = build_rates()
BYTE_CLASS = build_byte_class()
