"""Bounded decode fuzz: random and mutated frames raise only NBMFError subclasses, never hang."""

import random
import sys
import time
from pathlib import Path

from nbmf.codec import NBMF
from nbmf.errors import NBMFError

sys.path.insert(0, str(Path(__file__).parents[1] / "golden"))
from make_golden import golden_model  # noqa: E402


def fuzz(n: int, seed: int) -> int:
    rng = random.Random(seed)
    codec = NBMF(model=golden_model())
    seeds = [
        codec.encode("the party agreement license shall any software notice " * 6),
        codec.encode({"k": [1, 2, "three"]}),
        codec.encode(bytes(range(200))),
        codec.encode("hello"),
        b'{"meta": {"fidelity": "lossless", "type": "str"}, "code": "789c4b04000062006200", "sig": "00"}',
    ]
    tried = 0
    for _ in range(n):
        base = bytearray(rng.choice(seeds))
        kind = rng.random()
        if kind < 0.15:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        elif kind < 0.3:
            data = bytes(base[: rng.randint(0, len(base))])
        else:
            for _ in range(rng.randint(1, 4)):
                if base:
                    base[rng.randrange(len(base))] = rng.getrandbits(8)
            data = bytes(base)
        t0 = time.monotonic()
        try:
            codec.decode(data)
        except NBMFError:
            pass
        assert time.monotonic() - t0 < 2.0, f"decode took too long on {data.hex()}"
        tried += 1
    return tried


def test_bounded_decode_fuzz() -> None:
    assert fuzz(3000, seed=1) == 3000
