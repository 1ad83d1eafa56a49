"""Typed configuration of a domain model: what training takes, what the manifest and checkpoints keep."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from nbmf.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def parse_config(cls: type[M], data: Any, source: str = "config") -> M:
    """``data`` (a config file's mapping, flags merged in) as ``cls``, where no field is unknown at any depth: a
    misspelt field (``refrence_bytes``) is an error that names it and the field it may have meant, not a default
    silently kept. Bad values likewise, one line each, as a ``ConfigError`` (the CLIs print it, exit 2). Only what a
    user writes is read this strictly: stored configs (manifests, artifacts, checkpoints) are read as they were
    written, whatever fields an older nbmf gave them."""
    try:
        return cls.model_validate(data, extra="forbid")
    except ValidationError as exc:
        lines = [f"{source}: {exc.error_count()} problem{'s' if exc.error_count() > 1 else ''} ({cls.__name__})"]
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                known = _fields_at(cls, err["loc"][:-1])
                near = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
                hint = f" (did you mean {'.'.join([*map(str, err['loc'][:-1]), near[0]])}?)" if near else ""
                lines.append(f"  {where}: not a field{hint}")
            else:
                lines.append(f"  {where}: {err['msg']} (got {err['input']!r})" if err["type"] != "missing" else f"  {where}: required")
        raise ConfigError("\n".join(lines)) from None


def merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``a`` with ``b``'s fields over it, nested mappings merged field by field (a config and its overrides)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _fields_at(cls: Any, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found at ``loc`` inside ``cls`` (through optionals, lists and dicts), or none."""

    def unwrapped(t: Any) -> Any:  # Optional[X] -> X
        while typing.get_origin(t) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            t = args[0] if len(args) == 1 else None
        return t

    for part in loc:
        cls = unwrapped(cls)
        if isinstance(cls, type) and issubclass(cls, BaseModel) and isinstance(part, str) and part in cls.model_fields:
            cls = cls.model_fields[part].annotation
        elif typing.get_origin(cls) in (list, dict):  # ``part`` is an index or a key: what it holds
            cls = typing.get_args(cls)[-1]
        else:
            return []
    cls = unwrapped(cls)
    return list(cls.model_fields) if isinstance(cls, type) and issubclass(cls, BaseModel) else []


class NeuralConfig(BaseModel):
    """The neural predictor (a byte MLP with a binary-tree output) and its training budget."""

    # 64 from 2026-12-02 (before: 16; a model's weights say which it has): financial codes 1.3 % smaller, general
    # 0.2 %, for about 20 % more coding time (docs/NEURAL.md, "64 bytes of context for the predictor")
    # up to 256: 128 was measured, no better than 64 and slower (docs/NEURAL.md, "Where the trained model earns its share")
    context: int = Field(64, ge=1, le=256, description="previous bytes of the record the MLP sees (each costs coding time)")
    # "table" from the twenty-seventh session (2026-12-02; before: "factored"). The exported table has the same shape,
    # so coding costs the same and every model codes as before. At the same 3,000 steps the predictor alone codes
    # held-out legal 12 % and financial 4 % smaller, and its share of the mix grows +0.56 -> +0.79 % and +3.08 ->
    # +4.14 % (docs/NEURAL.md, "A free table for the first layer")
    first_layer: Literal["table", "factored"] = Field(
        "table",
        description="table: learn the first layer's table P[t, byte, :] directly; factored: a byte embedding (dim) and a "
        "Linear over the window, folded into P at export",
    )
    dim: int = Field(16, ge=1, le=128, description="byte embedding size of a factored first layer (folded away at export)")
    hidden: int = Field(128, ge=1, le=1024)
    hmax: float = Field(4.0, gt=0, description="hidden activations are clipped to [0, hmax] (fixed int8 range)")
    batch_size: int = Field(1024, ge=1)
    # 6e-3 and a decay over the last 30 % of the budget from 2026-12-02 (before: 3e-3, constant in `nbmf train`): the
    # predictor alone codes held-out records 3-4 % smaller, and the mix gains (docs/NEURAL.md, "A falling learning rate")
    lr: float = Field(6e-3, gt=0, description="Adam's learning rate, held until the decay (lr_decay) begins")
    lr_decay: float = Field(
        0.3,
        ge=0,
        le=1,
        description="the last part of the budget (steps or time, whichever runs out first) over which the learning rate "
        "falls linearly to 5 %; 0: constant (every model before 2026-12-02)",
    )
    # 0.1 from the thirty-fifth session (2026-12-04; before: none, plain Adam). Financial's 3.7 MB of train text is
    # seen 8.7 times in 32 M tokens: without decay the predictor memorizes it (val 0.497 -> 0.529 bits/byte from 8 M
    # to 32 M tokens, share +3.7 -> +1.0 %); with it, val keeps falling (0.491) and the share grows (+4.0 %). At the
    # documented path's ~9 M tokens it changes little (docs/NEURAL.md, "Weight decay: training compute that shows")
    weight_decay: float = Field(
        0.1,
        ge=0,
        le=1,
        description="decoupled weight decay (AdamW) on every parameter; 0: plain Adam (every model before 2026-12-04)",
    )
    # 10**9 from 2026-12-02 (before: 3000): a time budget is what stops training unless a step cap is given. At 3000
    # `nbmf train --time-budget 180` stopped at ~3 M tokens, a third of its budget on this 2-core machine
    max_steps: int = Field(10**9, ge=0, description="optimizer steps at most; by default the time budget binds")
    time_budget_s: float = Field(
        120.0,
        gt=0,
        description="seconds of training; `nbmf train` counts them from each worker's first batch (Ray Data's start-up is not training)",
    )
    seed: int = 0


class CMParams(BaseModel):
    """The context-mixing core (integer, compiled) that the neural prediction is mixed into."""

    # orders 2-8 and 12, match models from 7 and 20 bytes, lr_record 16: models built from 2026-12-02 (before:
    # orders 2-8 without 12, match from 6 and 16, lr_record 12; each model's config says which). The core codes
    # technical 0.4 %, legal 0.4 %, general 0.3 % smaller, financial 0.2 % larger (docs/NEURAL.md, "Frame version 5 and a retuned core")
    orders: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 12)
    table_bits: int | None = Field(
        None,
        ge=12,
        le=26,
        description="each hashed context's table holds 2^table_bits counters; None (the default): sized by the "
        "reference at build time (``sized_for``), 2^23, or 2^24 for a reference over 16 MiB, and for one under 1 MiB 4-8 "
        "counters per reference byte (at least 2^18). Every artifact names its own.",
    )
    match_bits: int | None = Field(
        None,
        ge=12,
        le=26,
        description="each match model's table of positions holds 2^match_bits; None (the default): sized by the "
        "reference at build time (``sized_for``), 2^22, or 2^24 for a reference over 8 MiB, and for one under 1 MiB 2-4 "
        "positions per reference byte (at least 2^16). Every artifact names its own.",
    )
    match_min: tuple[int, int] = (7, 20)
    limit: int = Field(
        255,
        ge=1,
        le=255,
        description="a counter averages over at most this many updates, then follows the latest at 1/(limit + 1.5) "
        "(60 in models built before 2026-12-01: 255 codes general and technical 0.2-0.3 % smaller, docs/NEURAL.md)",
    )
    lr: int = Field(
        5,
        ge=1,
        le=64,
        description="the mixers' learning rate while priming (6 before format 6, 4 in models built before 2026-12-05: 5 "
        "codes technical's, general's and legal's held-out records 0.04-0.2 % smaller, financial's the same; "
        "each model's config says which)",
    )
    lr_record: int | None = Field(
        None,
        ge=0,
        le=64,
        description="the mixers' learning rate while a record is coded (priming learns at lr); artifact format 5. "
        "None (the default): the build tries 16, 20 and 24 on val records and keeps the one that codes them smallest "
        "(one priming serves all three); None outside a build, and in every model built before 2026-12-05: 16. "
        "0: lr, as every model before format 5 (nbmf.neural.codec.unpack_files)",
    )
    contexts: tuple[Literal["json", "word", "ind", "match", "ind3", "word3", "line", "paren", "recw", "rec3", "num", "shape"], ...] = Field(
        ("json", "word", "ind", "match", "ind3", "word3", "line", "paren", "recw", "rec3", "num", "shape"),
        description="extra contexts: JSON structure (key, depth, place in the value), word unigram, indirect "
        "(what followed the last byte and the last two bytes before; artifact format 3), match (the byte the "
        "longest match predicts, its length, the previous byte; format 4), ind3 (what followed the last three "
        "bytes the last two times), word3 (the word and the two before it; format 5), recw and rec3 (the record's "
        "own word and last three bytes: learned from the record so far only; format 7), line (the line's indentation "
        "and first token, the previous line's) and paren (the open brackets; both format 10), num (the numbers that "
        "the record's last two numbers imply: their product, difference and sum; format 11), shape (the record's last "
        "eight runs of byte kinds, each with its length: letters, digits, spaces, quotes, brackets...; format 19) "
        "(a model made before them, artifact format 1, has none: nbmf.neural.codec.unpack_files)",
    )
    mixers: int | None = Field(
        6,
        ge=2,
        le=6,
        description="3: a third mixer (by previous byte) and a learned final mixer (format 1 models have 2); 4: and a "
        "fourth, by the kinds of the last three bytes (letter, digit, space, line break, quote, bracket, ...: artifact "
        "format 18; all held-out records, core alone: technical 1.9 %, general 2.0 %, legal 2.3 %, financial 0.1-0.3 % "
        "smaller), its weights and the final mixer's chosen by those kinds. Every model before format 18 has 3; 5: and "
        "a fifth, by the JSON key a value belongs to, or outside JSON by the line's layout (column, kinds of the "
        "previous byte and the line's first), mixer 4 and the final mixer by the runs of byte kinds before the byte "
        "instead (artifact format 20; all held-out records, core alone: technical 1.0 %, general 0.6 %, legal 1.4 %, "
        "financial 1.8 % smaller). Every model before format 20 has at most 4; 6: and a second final mixer whose "
        "weights are chosen as the fifth mixer's, the two averaged, the fifth by the word so far inside a word, the "
        "third APM stage by the last three bytes (artifact format 21; core alone: technical 0.4 %, general 0.2 %, "
        "financial 0.5 % smaller; legal 0.2 % larger). Every model before format 21 has at most 5. None: the build primes "
        "with 6 and with 5 (after choosing the order sets) and keeps the one that codes val records smaller (one more "
        "priming; on 32-200 check records it chose 5 for financial and 6 for legal, each the worse on held-out "
        "records, so 6 is the default); outside a build, 6 (``mixer_count``; an artifact names its count)",
    )
    ways: Literal[1, 2, 4, 8] = Field(
        4,
        description="slots a hashed context may take in its aligned group of the table (the one holding its check "
        "byte, else the least seen is replaced); artifact format 4. Models before it have 1 (nbmf.neural.codec.unpack_files)",
    )
    apms: Literal[2, 3] = Field(3, description="APM stages after the mixers: 3 adds one over the previous two bytes; format 4 (before: 2)")
    wide_mixers: bool = Field(
        True,
        description="the mixers select their weights by more context (artifact format 6): mixer 1 by match state x "
        "contexts seen x the partial byte, mixer 2 by the byte before the previous x the partial byte, mixer 3 by the "
        "previous byte x the partial byte (65,536 sets each for 2 and 3). False: as every model before format 6 "
        "(nbmf.neural.codec.unpack_files)",
    )
    freeze: int = Field(
        8,
        ge=0,
        le=255,
        description="while a record is coded, a shared hashed context's counter seen this many times or more keeps "
        "its primed value (no write, nothing to undo: ~11 % faster); above 0 a hashed context's linear mixer input "
        "is also given only while its counter is young, which wins the size back (artifact format 8). "
        "0: every counter learns from the record, as every model before format 8 (nbmf.neural.codec.unpack_files)",
    )
    ends: bool = Field(
        True,
        description="priming also learns where records end, so the model's frames need no length (frame version 4: "
        "a 7-byte header where version 3 took 9 or 10; 6 in version 5, for a model its registry numbered; artifact "
        "format 9). False: as every model before format 9, "
        "whose frames carry the length (nbmf.neural.codec.unpack_files)",
    )
    post_mix: bool = Field(
        True,
        description="a last mixer after the APM stages, over the final probability and the predictor's stretch, so the "
        "trained predictor has a second say (artifact format 12). False: as every model before format 12 "
        "(nbmf.neural.codec.unpack_files)",
    )
    once: bool = Field(
        True,
        description="a hashed context seen once takes one table slot, which records the byte that followed, instead of "
        "one slot per bit (artifact format 13): the room goes to contexts seen again (+0.4 % on technical, general and "
        "legal). False: as every model before format 13 (nbmf.neural.codec.unpack_files)",
    )
    runs: bool = Field(
        True,
        description="with once: a hashed context keeps its one slot while the same byte has followed it every time, "
        "counting how often (artifact format 14): more room for contexts that vary (+0.9 % on technical, +0.7 % on "
        "general). False: as every model before format 14 (nbmf.neural.codec.unpack_files)",
    )
    late: bool = Field(
        False,
        description="the trained predictor speaks in the post mixer only, not in the mixers (artifact format 15; needs "
        "post_mix): for a predictor far surer on its training text than on new records, which the mixers, learning "
        "on the reference, would over-trust. ModelConfig.predictor_place chooses it at build time",
    )
    match_trust: int | None = Field(
        None,
        ge=1,
        le=8,
        description="while a record is coded, the match models' inputs to the mixers are scaled by this many eighths "
        "(artifact format 16 below 8): priming meets matches in the reference, where a record's own document has its "
        "other records, and a record of a new document finds matches that hold less often. None: the build tries "
        "8, 6, 5 and 4 on val records and keeps the one that codes them smallest (technical's core: 0.3 to 0.4 % "
        "smaller at 4 or 5). 8, or None in an artifact (every format before 16 leaves it out): unscaled",
    )
    order_sets: bool | None = Field(
        None,
        description="mixers 1 and 2 choose their weight sets by the highest order whose context was seen and what its "
        "counter is (artifact format 17; with wide_mixers): how far to trust each input depends on how long a context "
        "the record was met with and how sure it is (technical's core 0.66 % smaller, general's 0.31 %, financial's "
        "1.1 % larger). None: the build primes both and keeps the one that codes val records smaller (one more "
        "priming). False, or None in an artifact (every format before 17 leaves it out): as before format 17",
    )
    maps: bool = Field(
        True,
        description="each extra context (JSON, word, indirect, line, brackets, numbers, shape, the record's own) is "
        "read through a map of its own, by how often its counter was seen and what it says, learned as the APM stages "
        "learn, instead of as its counter says (artifact format 22; core alone, all held-out records: legal 0.57 %, "
        "general 0.12 %, technical 0.09 %, financial 0.02 % smaller; docs/NEURAL.md, 'Format 22'). "
        "False: as before format 22 (every model before it, nbmf.neural.codec.unpack_files)",
    )

    def sized_for(self, reference_bytes: int) -> CMParams:
        """These params with the table sizes set for a reference of ``reference_bytes`` (each as given, where given):
        - ``table_bits``: 2^23 counters per hashed context, 2^24 for a reference over ``LARGE_REFERENCE``. Only
          technical's train split is that large here; its core codes 1.1 % smaller with the bigger tables
          (thirty-eighth session, 250 held-out records: 8.859 -> 8.959), for 1.33 GB of tables per loaded version
          instead of 0.69 GB. Smaller tables for a small reference cost more than their memory is worth: legal
          (4.9 MB) at 2^22 codes 0.9 % larger. A reference under ``SMALL_REFERENCE`` (a user's few hundred records)
          takes 4-8 counters per byte instead, at least 2^``MIN_TABLE_BITS``: a 0.63 MiB one, 2^22 (0.35 GB
          of tables per loaded version instead of 0.69; its core codes 200 held-out records 0.02 % larger, fifty-first session).
        - ``match_bits``: 2^22 positions per match model, 2^24 for a reference over ``MATCH_LARGE_REFERENCE``
          (128 MB of match tables instead of 32 MB): technical +0.50 %, general +0.22 %; legal at 2^23 -0.1 %; under
          ``SMALL_REFERENCE``, 2-4 positions per byte, at least 2^``MIN_MATCH_BITS``.
        ``reference_bytes`` 0 (no reference to size by: ``codec.cm_config``) takes 2^23 and 2^22."""
        update: dict[str, int] = {}
        small, bits = 0 < reference_bytes < SMALL_REFERENCE, reference_bytes.bit_length()
        if self.table_bits is None:
            big = TABLE_BITS + int(reference_bytes > LARGE_REFERENCE)
            update["table_bits"] = max(MIN_TABLE_BITS, min(TABLE_BITS, bits + 2)) if small else big
        if self.match_bits is None:
            big = MATCH_BITS + 2 * int(reference_bytes > MATCH_LARGE_REFERENCE)
            update["match_bits"] = max(MIN_MATCH_BITS, min(MATCH_BITS, bits + 1)) if small else big
        return self.model_copy(update=update) if update else self

    @property
    def record_rate(self) -> int:
        """The mixers' learning rate while a record is coded: ``lr_record``, or where it is left open (no build has
        chosen one), ``RECORD_RATE``."""
        return RECORD_RATE if self.lr_record is None else self.lr_record

    @property
    def mixer_count(self) -> int:
        """The mixers: ``mixers``, or where it is left open (no build has chosen), ``MIXERS``."""
        return MIXERS if self.mixers is None else self.mixers


MIXERS = 6  # the mixers where ``CMParams.mixers`` is left open (outside a build): format 21
RECORD_RATE = 16  # the mixers' rate while a record is coded where ``CMParams.lr_record`` is left open (outside a build)
TABLE_BITS = 23  # a hashed context's table (2^23 counters) when the config leaves it to the reference's size
MATCH_BITS = 22  # a match model's table of positions (2^22), likewise
MATCH_LARGE_REFERENCE = 8 << 20  # above this, 2^24 positions (``CMParams.sized_for``)
LARGE_REFERENCE = 16 << 20  # above this, 2^24 (``CMParams.sized_for``)
SMALL_REFERENCE = 1 << 20  # below this, tables by the reference's size (``CMParams.sized_for``)
MIN_TABLE_BITS = 18  # the smallest table a small reference takes
MIN_MATCH_BITS = 16  # the smallest match table a small reference takes


class ModelConfig(BaseModel):
    """Everything that defines a domain model version (saved in its manifest and every checkpoint)."""

    reference_bytes: int = Field(
        32 << 20, ge=0, description="at most this much domain text primes the model (16 MiB before 2026-12-02; 8 MiB before that)"
    )
    reference_select: Literal["cover", "novel"] = Field(
        "cover",
        description="where the train records do not all fit in reference_bytes, which go in (nbmf.neural.reference): "
        "'cover', the records that cover the most of the train split's text, common text once and last (legal's held-out "
        "records 8.6 % smaller than 'novel' at 2 of its 4.9 MiB, 30 % at 1: BENCHMARKS.md, sixty-third session); 'novel', the "
        "sixty-second session's choice (reference_novel). A config that sets reference_novel and not this field means "
        "'novel' (as it did before the field existed)",
    )
    reference_novel: float = Field(
        0.8,
        ge=0,
        le=1,
        description="with reference_select 'novel': a record whose sampled text is less than this share new to the "
        "reference so far is passed over until the others are in (held-out records 1-12 % smaller than a random cut "
        "where the limit binds: BENCHMARKS.md, sixty-second session); 0: the first records in content-hash order, as "
        "builds before it chose",
    )
    dict_bytes: int = Field(112 * 1024, ge=1024)
    val_in_reference: bool = Field(
        True,
        description="the val records join the shipped reference once the build has made its choices and learned the "
        "post mixer on them (one more priming; the build's val figures are measured before they join): held-out records "
        "0.4-0.7 % smaller on all four domains here (fifty-fourth session); applies where the build primes its "
        "choices (a neural predictor and the post mixer)",
    )
    neural: NeuralConfig = NeuralConfig()
    cm: CMParams = CMParams()
    use_neural: bool = Field(
        True,
        description="false: a codec without the trained predictor (the context-mixing core alone): the train job "
        "trains nothing for the domain and goes straight to the build, which still makes its choices on val records; "
        "for a domain whose predictor does not pay for its decode time (legal here: BENCHMARKS.md, fifty-seventh session)",
    )
    predictor_min_gain: float | None = Field(
        0.01,
        ge=0,
        description="the trained predictor must code the build's check records (val) at least this fraction smaller than "
        "the codec without it, or the build leaves it out (the artifact codes without it: use_neural false in its "
        "files): one more priming, without the predictor, once the other choices are made. It costs a fifth to a "
        "quarter of the decode time; legal's on the documented path saved nothing on its held-out records (12,214 "
        "against 12,221 bytes) and took its decode p95 from 16.1 to 20.5 ms per KB; another training's made +0.57 % on "
        "its 32 check records, +0.16 % held out (BENCHMARKS.md, fifty-seventh session). None: kept unchecked",
    )
    predictor_place: Literal["mixers", "post", "best"] = Field(
        "mixers",
        description="where the trained predictor enters the codec: 'mixers' (an input of every mixer and of the post "
        "mixer), 'post' (the post mixer only: cm.late, artifact format 15), or 'best': the build primes both and keeps "
        "the one that codes val records smaller (one more priming). The mixers learn while priming, on text the "
        "predictor trained on; a GPU-trained predictor, 37 passes over general's, was over-trusted there and made "
        "general's codec 2.7 % larger than no predictor ('post': 3.9 % smaller; BENCHMARKS.md, forty-first session)",
    )

    @model_validator(mode="before")
    @classmethod
    def _novel_means_novel(cls, data: Any) -> Any:
        """A config written before ``reference_select`` (a manifest, a checkpoint, a user's YAML) that sets
        ``reference_novel`` was built, or asks to be built, that way."""
        if isinstance(data, dict) and "reference_novel" in data and "reference_select" not in data:
            data = {**data, "reference_select": "novel"}
        return data
