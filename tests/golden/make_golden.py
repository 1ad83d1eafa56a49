"""Writes tests/golden/frames.json. Run only on a deliberate format change (and bump the version)."""

import hashlib
import json
import random
from pathlib import Path

from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.codecs.zstd_dict import ZstdDictCodec, train_dictionary
from nbmf.frame import CodecId, ModelRef

HERE = Path(__file__).parent


def golden_model() -> DomainModel:
    path = HERE / "zstd.dict"
    if not path.exists():
        rng = random.Random(7)
        words = "the party agreement license shall any software notice copyright permission".split()
        samples = [" ".join(rng.choice(words) for _ in range(60)).encode() for _ in range(400)]
        path.write_bytes(train_dictionary(samples, 4096))
    d = path.read_bytes()
    ref = ModelRef.of("golden", 1, hashlib.sha256(d).hexdigest())
    return DomainModel("golden", 1, ref, {CodecId.ZSTD_DICT: ZstdDictCodec(d, ref)})


CASES = [
    ("str", "lossless", "Hello, NBMF!"),
    ("str", "lossless", "the party agreement license shall any software notice " * 8),
    ("str", "semantic", "  Caf\u0065\u0301   au\tlait \n\n the license shall  "),
    ("json", "lossless", {"z": 1, "a": [1.5, None, True, "x"], "k": {"n": -0.0}}),
    ("json", "semantic", {"z": 1, "a": [1.5, None, True, "x"]}),
    ("bytes", "lossless", "00ff10fe" * 40),
    ("str", "lossless", ""),
]

if __name__ == "__main__":
    codec = NBMF(model=golden_model())
    out = []
    for ptype, fid, value in CASES:
        v = bytes.fromhex(value) if ptype == "bytes" else value
        frame = codec.encode(v, fid, ptype, "golden")
        out.append({"type": ptype, "fidelity": fid, "value": value, "frame": frame.hex()})
    (HERE / "frames.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
