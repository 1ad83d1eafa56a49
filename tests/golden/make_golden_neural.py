"""Writes tests/golden/neural[-N]/: a tiny neural model (committed files) and frames it coded, which must
decode bit-exactly forever. One directory per neural artifact format; write only the newest, once,
on a deliberate bitstream change:  python tests/golden/make_golden_neural.py 2

The text is generated here (no machine-dependent corpus), the model trained once; the test never trains.
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).parent / "neural"  # format 1: the CM core with its first contexts
DIRS = {1: HERE, **{n: Path(__file__).parent / f"neural-{n}" for n in range(2, 23)}}
# format 2: + JSON structure and word contexts, mixer 3; format 3: + indirect contexts;
# format 4: 4 ways per table group, the match context, a third APM stage;
# format 5: + indirect after 3 bytes and word-trigram contexts, the record's own mixer rate;
# format 6: mixer weights selected by more context (the two previous bytes x c0);
# format 7: + the record's own contexts (its word, its last three bytes), counter limit 255;
# format 8: a record leaves the shared counters primed 8 times or more alone (freeze), and the linear
# input of a hashed context only while its counter is young;
# format 9: priming learns where records end; a payload may code its end (``payload_ends``: frame version 4);
# format 10: + the line's layout and the open brackets (its text has indented lines too)
# format 11: + the numbers the record's last two numbers imply (its JSON has quantity x price = amount, too)
# format 12: + the post mixer after the APM stages, its weights learned on the val records (``NeuralWeights.post``)
# format 13: a context seen once takes one slot, which records the byte that followed (``once``)
# format 14: ... and keeps it while the same byte follows it every time (``runs``)
# format 15: the predictor speaks in the post mixer only (``late``; the build's ``predictor_place='post'``)
# format 16: a record trusts the match models 5/8 as much as priming taught (``match_trust``)
# format 17: mixers 1 and 2 choose their weight sets by the highest order seen and its run (``order_sets``)
# format 18: a fourth mixer, by the kinds of the last three bytes (``mixers`` 4)
# format 19: the record's shape, its last runs of byte kinds (the ``shape`` context)
# format 20: a fifth mixer, by the JSON key or the line's layout; mixer 4 by the runs of byte kinds (``mixers`` 5)
# format 21: a second final mixer by the fifth's sets, the fifth by the word, APM 3 by three bytes (``mixers`` 6)
# format 22: each extra context read through a map by its count and probability (``maps``)
OLD = {"wide_mixers": False, "lr": 6}  # every format before 6
CM: dict[int, dict] = {
    1: {"contexts": (), "mixers": 2, "ways": 1, "apms": 2, "lr_record": 0, **OLD},
    2: {"contexts": ("json", "word"), "mixers": 3, "ways": 1, "apms": 2, "lr_record": 0, **OLD},
    3: {"contexts": ("json", "word", "ind"), "mixers": 3, "ways": 1, "apms": 2, "lr_record": 0, **OLD},
    4: {"contexts": ("json", "word", "ind", "match"), "mixers": 3, "ways": 4, "apms": 3, "lr_record": 0, **OLD},
    5: {"contexts": ("json", "word", "ind", "match", "ind3", "word3"), "mixers": 3, "ways": 4, "apms": 3, "lr_record": 12, **OLD},
    6: {
        "contexts": ("json", "word", "ind", "match", "ind3", "word3"),
        "mixers": 3,
        "ways": 4,
        "apms": 3,
        "lr_record": 12,
        "wide_mixers": True,
        "lr": 4,
    },
}
CM[7] = {**CM[6], "contexts": (*CM[6]["contexts"], "recw", "rec3"), "limit": 255}
for _n in CM:
    CM[_n]["freeze"] = 0  # every format before 8: each counter learns from the record
CM[8] = {**CM[7], "freeze": 8}
for _n in CM:
    CM[_n]["ends"] = False  # every format before 9: its frames carry the length
CM[9] = {**CM[8], "ends": True}
CM[10] = {**CM[9], "contexts": (*CM[9]["contexts"], "line", "paren")}
CM[11] = {**CM[10], "contexts": (*CM[10]["contexts"], "num")}
for _n in CM:
    CM[_n]["post_mix"] = False  # every format before 12: no post mixer
CM[12] = {**CM[11], "post_mix": True}
for _n in CM:
    CM[_n]["once"] = False  # every format before 13: a slot per bit of a context seen once
CM[13] = {**CM[12], "once": True}
for _n in CM:
    CM[_n]["runs"] = False  # every format before 14: a context seen twice has a slot per bit
CM[14] = {**CM[13], "runs": True}
for _n in CM:
    CM[_n]["late"] = False  # every format before 15: the predictor is one of the mixers' inputs
CM[15] = {**CM[14], "late": True}
for _n in CM:
    CM[_n]["match_trust"] = 8  # every format before 16: the match models' inputs unscaled (not left for the build to choose)
CM[16] = {**CM[14], "match_trust": 5}
for _n in CM:
    CM[_n]["order_sets"] = False  # every format before 17: the mixers select as format 16's did
CM[17] = {**CM[16], "order_sets": True}
CM[18] = {**CM[17], "mixers": 4}  # (every format before it: mixers 3, or 2 in format 1)
CM[19] = {**CM[18], "contexts": (*CM[18]["contexts"], "shape")}
CM[20] = {**CM[19], "mixers": 5}
for _n in CM:
    CM[_n]["maps"] = False  # every format before 22: each extra context as its counter says
CM[21] = {**CM[19], "mixers": 6}
CM[22] = {**CM[21], "maps": True}
WORDS = (
    "the licensee shall keep every copyright notice intact in all copies of the software and its documentation "
    "transaction amount currency merchant settled pending user prefers concise answers about deadlines"
).split()


def texts(seed: int, n: int, lines: bool = False, nums: bool = False) -> list[bytes]:
    """Prose and JSON records; with ``lines`` (format 10 on) a third of them indented code-like lines; with ``nums``
    (format 11 on) each JSON record also has a quantity, a price and their product."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if lines and rng.random() < 0.33:
            rows = [
                " " * (4 * rng.randint(0, 3)) + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
                for _ in range(rng.randint(3, 12))
            ]
            out.append(("def " + rng.choice(WORDS) + "():\n" + "\n".join(rows)).encode())
        elif rng.random() < 0.5:
            out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 120))).capitalize().encode() + b".")
        else:
            memo = " ".join(rng.choice(WORDS) for _ in range(8))
            rec = {"id": rng.randrange(10**6), "amount": round(rng.uniform(1, 999), 2), "memo": memo}
            if nums:
                qty, price = rng.randint(1, 400), round(rng.uniform(1, 500), 2)
                rec |= {"quantity": qty, "price": price, "value": round(qty * price, 2)}
            out.append(json.dumps(rec).encode())
    return out


def golden_neural(here: Path = HERE):  # type: ignore[no-untyped-def]
    """The committed model's neural codec (its files as written once)."""
    from nbmf.neural.codec import NeuralCodec

    files = {p.name: p.read_bytes() for p in here.iterdir() if p.name in ("neural.safetensors", "reference.zst")}
    return NeuralCodec.from_files(files)


if __name__ == "__main__":
    import sys

    import torch

    from nbmf.config import CMParams, ModelConfig, NeuralConfig
    from nbmf.neural.build import build_files

    fmt = int(sys.argv[1])
    out = DIRS[fmt]
    if out.exists():
        sys.exit(f"{out} exists: golden frames are written once and never rewritten")
    torch.manual_seed(0)
    cfg = ModelConfig(
        reference_bytes=40_000,
        dict_bytes=2048,
        neural=NeuralConfig(context=8, dim=8, hidden=32, max_steps=200, time_budget_s=60, batch_size=256),
        cm=CMParams(table_bits=16, match_bits=16, **CM[fmt]),
        predictor_place="post" if CM[fmt]["late"] else "mixers",
    )
    lines, nums = fmt >= 10, fmt >= 11
    files, _ = build_files(texts(1, 400, lines, nums), texts(2, 40, lines, nums), cfg)
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)
    (out / "config.json").write_text(cfg.model_dump_json(indent=1))
    codec = golden_neural(out)
    frames = []
    for value in [b.decode() for b in texts(3, 12, lines, nums)] + ["", "x", "The licensee shall keep every notice."]:
        data = value.encode()
        frame = {"value": value, "payload": codec.compress_unbounded(data).hex()}
        if codec.codes_ends and data:  # an empty record is stored, never coded without its length
            frame["payload_ends"] = codec.compress_unbounded(data, ends=True).hex()
        frames.append(frame)
    (out / "frames.json").write_text(json.dumps(frames, indent=1) + "\n")
