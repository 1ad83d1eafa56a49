"""Writes the golden frames of one frame version: ``python tests/golden/make_golden.py 2`` writes
tests/golden/frames-2.json (version 1's are tests/golden/frames.json; version 3's frames-3.json). Run once, when a frame version is
made; it refuses to overwrite (golden frames are what earlier nbmf wrote, forever). Versions 4 and 5 hold
only the neural codec: their frames are coded by the committed format 10 model (``golden_neural_model``)."""

import hashlib
import json
import random
import sys
from pathlib import Path

from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.codecs.zstd_dict import ZstdDictCodec, train_dictionary
from nbmf.frame import CodecId, ModelRef

HERE = Path(__file__).parent


def golden_path(version: int) -> Path:
    return HERE / ("frames.json" if version == 1 else f"frames-{version}.json")


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


def golden_neural_model(serial: int | None = 3) -> DomainModel:
    """The committed format 10 neural model (tests/golden/neural-10) as registry version 1 with ``serial``."""
    from nbmf.neural.codec import NeuralCodec

    here = HERE / "neural-10"
    files = {n: (here / n).read_bytes() for n in ("neural.safetensors", "reference.zst")}
    ref = ModelRef.of("golden", 1, hashlib.sha256(b"".join(files.values())).hexdigest(), serial=serial)
    return DomainModel("golden", 1, ref, {CodecId.NEURAL: NeuralCodec.from_files(files, ref)})


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
    version = int(sys.argv[1])
    path = golden_path(version)
    if path.exists():
        sys.exit(f"{path} exists: golden frames are never rewritten")
    codec = NBMF(model=golden_model() if version < 4 else golden_neural_model(), frame_version=version)
    out = []
    for ptype, fid, value in CASES:
        v = bytes.fromhex(value) if ptype == "bytes" else value
        frame = codec.encode(v, fid, ptype, "golden")
        out.append({"type": ptype, "fidelity": fid, "value": value, "frame": frame.hex()})
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
