"""The compiled step against its pure-Python self, round trips, and the journal's undo."""

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbmf.errors import CodecError

REF_SCRIPT = r"""
import json, sys
import numba
import numpy as np
import nbmf.neural.kernel as kernel
from nbmf.neural.cm import CMState, CMConfig, NeuralWeights
if numba.config.DISABLE_JIT:  # the plain run: kernel._u only casts an index to uint64 for the compiler, and building
    def _index(i):            # a numpy scalar per element took a third of this run's time; a negative index still fails
        if i < 0:
            raise IndexError(i)
        return i
    kernel._u = _index  # (here, not in kernel.py: that file's hash names the primed states on disk and on the shelf)
rng = np.random.default_rng(1)
nn = NeuralWeights(rng.integers(-300, 300, (4, 256, 8)), rng.integers(-100, 100, 8), rng.integers(-127, 128, (256, 8)),
                   rng.integers(-500, 500, 256), 400, 16, 2000)
x = json.loads(sys.argv[1])
if x.get("p32"):  # one value beyond int16 keeps the first-layer table int32 (summed in int64)
    P = nn.P.astype(np.int64)
    P[1, 7, 3] = 40000
    nn = NeuralWeights(P, nn.B1, nn.WO, nn.BO, nn.m1, nn.s1, nn.m2)
    assert nn.P.dtype == np.int32
cfg = CMConfig(orders=(2, 3, 5), table_bits=12, match_bits=12, match_min=(4, 8), contexts=tuple(x["contexts"]), mixers=x["mixers"],
               ways=x.get("ways", 1), apms=x.get("apms", 2), lr_record=x.get("lr_record", 0), wide_mixers=x.get("wide", True),
               freeze=x.get("freeze", 0), ends=x.get("ends", False), post_mix=x.get("post", False), once=x.get("once", False),
               runs=x.get("runs", False), late=x.get("late", False), match_trust=x.get("trust", 8),
               order_sets=x.get("ordsel", False), maps=x.get("maps", False))
js = b'{"id":"a\\"b","amount":{"value":"-4.20","currency":"USD"},"tags":["x",{"k":[1,2]}]}'
if "num" in x["contexts"]:  # format 11: numbers whose product, difference or sum the next one is
    js += b'[{"q": 3, "p": 2.5, "v": 7.5, "t": 0.25, "s": 7.75}, {"q": -12, "p": 0.125, "v": -1.5, "d": 9, "e": -10.5}]'
ref = (b"the quick brown fox jumps over the lazy dog. " * 20) + b"\0" + b"def f(x):\n    return x + 1\n" * 10 + b"\0" + js * 4
if x.get("long_run"):  # format 14: a context followed by the same byte more often than a run counts (RUN_CAP)
    ref += b"\0" + b"ab" * 300
st = CMState.build(cfg, ref, nn)
rec = b"the lazy dog returns x + 1;\n    the quick fox" + js
if cfg.post_mix:  # format 12: the post mixer learns on other records first (``learn_post``), then codes with it
    st.learn_post([b"the quick dog jumps over x + 2" + js, js[::-1]], 5)
coded = st.encode(rec, 200)
ends = st.encode(rec, 200, ends=True).hex() if cfg.ends else ""  # format 9: the record's end coded too
back = st.decode_ends(bytes.fromhex(ends)) == rec if cfg.ends else None
print(json.dumps({"coded": coded.hex(), "ends": ends, "back": back, "trace": st.trace(rec).tolist(),
                  "T": int(st.T.astype(np.int64).sum()), "W": int(st.W0.sum())}))
"""


def _run(jit: bool, cm: dict) -> dict:
    env = dict(os.environ, NUMBA_DISABLE_JIT="0" if jit else "1")
    argv = [sys.executable, "-c", REF_SCRIPT, json.dumps(cm)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


FORMAT8 = {
    "contexts": ["json", "word", "ind", "match", "ind3", "word3", "recw", "rec3"],
    "mixers": 3,
    "ways": 4,
    "apms": 3,
    "lr_record": 12,
    "freeze": 8,
}
FORMAT14 = {**FORMAT8, "ends": True, "contexts": [*FORMAT8["contexts"], "line", "paren", "num"], "post": True, "once": True, "runs": True}


REFERENCE_CMS = [
    {"contexts": [], "mixers": 2},
    {"contexts": ["json", "word"], "mixers": 3},
    {"contexts": ["json", "word", "ind"], "mixers": 3},
    {"contexts": ["json", "word", "ind", "match"], "mixers": 3, "ways": 4, "apms": 3},
    {"contexts": ["json", "word", "ind", "match", "ind3", "word3"], "mixers": 3, "ways": 4, "apms": 3, "lr_record": 12},
    FORMAT8,
    {**FORMAT8, "ends": True},
    {**FORMAT8, "ends": True, "contexts": [*FORMAT8["contexts"], "line", "paren"]},
    {**FORMAT8, "ends": True, "contexts": [*FORMAT8["contexts"], "line", "paren"], "p32": True},
    {**FORMAT8, "ends": True, "contexts": [*FORMAT8["contexts"], "line", "paren", "num"]},
    {**FORMAT8, "ends": True, "contexts": [*FORMAT8["contexts"], "line", "paren", "num"], "post": True},
    {**FORMAT8, "ends": True, "contexts": [*FORMAT8["contexts"], "line", "paren", "num"], "post": True, "once": True},
    {**FORMAT8, "ends": True, "contexts": [*FORMAT8["contexts"], "line", "paren", "num"], "post": True, "once": True, "runs": True},
    {
        **FORMAT8,
        "ends": True,
        "contexts": [*FORMAT8["contexts"], "line", "paren", "num"],
        "post": True,
        "once": True,
        "runs": True,
        "long_run": True,
    },
    {**FORMAT14, "late": True},
    {**FORMAT14, "trust": 5},
    {**FORMAT14, "trust": 5, "ordsel": True},
    {**FORMAT14, "trust": 5, "ordsel": True, "mixers": 4},
    {**FORMAT14, "contexts": [*FORMAT14["contexts"], "shape"], "trust": 5, "ordsel": True, "mixers": 4},
    {**FORMAT14, "contexts": [*FORMAT14["contexts"], "shape"], "trust": 5, "ordsel": True, "mixers": 5},
    {**FORMAT14, "contexts": [*FORMAT14["contexts"], "shape"], "trust": 5, "ordsel": True, "mixers": 6},
    {**FORMAT14, "contexts": [*FORMAT14["contexts"], "shape"], "trust": 5, "ordsel": True, "mixers": 6, "maps": True},
]
REFERENCE_IDS = [
    *("format-1", "format-2", "format-3", "format-4", "format-5", "format-8", "format-9", "format-10"),
    *("format-10-int32-table", "format-11", "format-12", "format-13", "format-14", "format-14-long-run", "format-15", "format-16"),
    "format-17",
    "format-18",
    "format-19",
    "format-20",
    "format-21",
    "format-22",
]


@pytest.fixture(scope="module")
def coded_both_ways() -> dict[tuple[str, bool], dict]:
    """Every case run compiled and as plain Python, each in its own process, as many at once as the machine has
    cores (up to 4)."""
    from concurrent.futures import ThreadPoolExecutor

    # longest first: the two compiled runs that may compile a variant (int16 and int32 first layer; cached after), then
    # the plain runs from the last format back (the later formats the longer), then the other compiled runs
    first = [("format-1", True), ("format-10-int32-table", True)]
    plain = [(i, False) for i in reversed(REFERENCE_IDS)]
    jobs = first + plain + [(i, True) for i in REFERENCE_IDS if (i, True) not in first]
    cms = dict(zip(REFERENCE_IDS, REFERENCE_CMS, strict=True))

    def attempt(job: tuple[str, bool]) -> dict | AssertionError:  # a case that fails fails its own test only
        try:
            return _run(job[1], cms[job[0]])
        except AssertionError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        done = list(pool.map(attempt, jobs))
    return dict(zip(jobs, done, strict=True))


@pytest.mark.parametrize("cm", REFERENCE_IDS)
def test_compiled_step_equals_pure_python_reference(coded_both_ways: dict, cm: str) -> None:
    compiled, reference = coded_both_ways[(cm, True)], coded_both_ways[(cm, False)]
    for run in (compiled, reference):
        if isinstance(run, AssertionError):
            raise run
    assert compiled == reference  # same primed state, same per-bit tables, same bytes
    if REFERENCE_CMS[REFERENCE_IDS.index(cm)].get("ends"):
        assert compiled["ends"] and compiled["back"] is True and len(compiled["ends"]) <= len(compiled["coded"]) + 4


def test_a_record_coded_with_its_end_decodes_without_its_length() -> None:
    """Format 9: the end is one more decision after each byte, primed on where the reference's records
    end; a JSON record's end (after its last brace) costs almost nothing; garbage cannot run on."""
    from nbmf.neural.cm import CMConfig, CMState

    js = [b'{"id": %d, "memo": "paid %d"}' % (i, i * 7) for i in range(300)]
    ref = b"\0".join(js[:250])
    st = CMState.build(CMConfig(table_bits=14, match_bits=14), ref)
    old = CMState.build(CMConfig(table_bits=14, match_bits=14, ends=False), ref)
    with_len = ends = 0
    for rec in js[250:]:
        coded = st.encode(rec, len(rec) + 16, ends=True)
        assert st.decode_ends(coded) == rec and st.decode_ends(coded, len(rec)) == rec
        with_len += len(st.encode(rec, len(rec) + 16))
        ends += len(coded)
        assert st.encode(rec, len(rec) + 16) == old.encode(rec, len(rec) + 16)  # a length-coded payload is format 8's
    assert ends <= with_len + 5  # 50 records' ends in under a byte each, in all
    rec = js[260]
    coded = st.encode(rec, len(rec) + 16, ends=True)
    with pytest.raises(CodecError, match="does not end within"):
        st.decode_ends(coded, len(rec) - 1)  # the caller's limit holds
    for bad in (b"", b"\xff" * 3, coded[:-1] + b"\x00", bytes(range(40))):  # bounded: never runs past the padding
        try:
            got = st.decode_ends(bad)
        except CodecError:
            continue
        assert got != rec or bad == coded
    with pytest.raises(CodecError, match="cannot code where a record ends"):
        old.encode(rec, ends=True)
    with pytest.raises(CodecError, match="cannot"):
        old.decode_ends(coded)
    assert st.codes_ends and not old.codes_ends


def test_extra_contexts_change_the_coding_and_are_named() -> None:
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState

    rec = b'{"type":"invoice","lines":[{"sku":"A-1","qty":3},{"sku":"A-2","qty":4}],"total":"12.50"}'
    ref = b"\0".join(rec.replace(b"3", bytes([48 + i % 10])) for i in range(40))
    # the orders and match lengths of format 10's first models: with order 12 and 7-byte matches this record,
    # 40 times in its reference, codes to one byte with or without any extra context
    small = {"table_bits": 14, "match_bits": 14, "orders": (2, 3, 4, 5, 6, 8), "match_min": (6, 16), "post_mix": False, "once": False}
    small["maps"] = False  # (format 22's maps add a region per extra context: ``test_the_extra_contexts_read_through_maps...``)
    plain = CMState.build(CMConfig(**small, contexts=(), mixers=2, ways=1, apms=2, lr_record=0, freeze=0), ref)
    coded_plain = plain.encode(rec, 2 * len(rec))
    variants = ((("json", "word"), 2), ((), 3), (("json", "word"), 3), (("ind",), 2), (("json", "word", "ind"), 3), (("match",), 2))
    variants += ((("ind3",), 2), (("word3",), 2), (("ind", "ind3"), 2))
    for contexts, mixers in variants:
        cfg = CMConfig(**small, contexts=contexts, mixers=mixers, ways=1, apms=2, lr_record=0, freeze=0)
        extra = CMState.build(cfg, ref)
        hashed = len(contexts) + ("ind" in contexts)  # "ind" is two contexts (after 1 and after 2 bytes)
        # a table region per extra hashed context; "ind" also keeps what followed each byte and byte pair,
        # "ind3" what followed each (hashed) three bytes
        histories = (256 + 65536 if "ind" in contexts else 0) + (65536 if "ind3" in contexts else 0)
        assert extra.T.shape[0] == plain.T.shape[0] + hashed * (1 << 14) + histories
        ninputs = 2 * (len(cfg.orders) + 2 + hashed) + 6  # o0, o1, 2 per hashed context, match x2, neural, bias
        m1, m2, m3, m4, m5, mf = K.mixer_sets(int(extra.cfg[K.C_XCTX]))
        assert m4 == m5 == 0  # three mixers: no fourth (format 18), no fifth (format 20)
        assert (m2, m3) == (K.WIDE_SETS, K.WIDE_SETS)  # format 6 by default: by the two previous bytes x c0
        assert extra.W0.shape[0] == (m1 + m2 + (m3 if mixers == 3 else 0)) * ninputs + (mf * 3 if mixers == 3 else 0)
        coded = extra.encode(rec, 2 * len(rec))
        assert coded != coded_plain and extra.decode(coded, len(rec)) == rec
    apm3 = CMState.build(CMConfig(**small, contexts=(), mixers=2, ways=1, apms=3, freeze=0), ref)
    assert apm3.T.shape[0] == plain.T.shape[0] + 65536 * K.APM_BUCKETS  # the third stage's table
    coded = apm3.encode(rec, 2 * len(rec))
    assert coded != coded_plain and apm3.decode(coded, len(rec)) == rec
    with pytest.raises(CodecError, match="unknown context 'xml'"):
        CMState.build(CMConfig(table_bits=12, match_bits=12, contexts=("xml",)), ref)
    with pytest.raises(CodecError, match="mixers must be 2, 3, 4, 5 or 6"):
        CMState.build(CMConfig(table_bits=12, match_bits=12, mixers=7), ref)
    with pytest.raises(CodecError, match="ways must be 1, 2, 4 or 8"):
        CMState.build(CMConfig(table_bits=12, match_bits=12, ways=3), ref)
    with pytest.raises(CodecError, match="apms must be 2 or 3"):
        CMState.build(CMConfig(table_bits=12, match_bits=12, apms=1), ref)
    with pytest.raises(CodecError, match="lr_record"):
        CMState.build(CMConfig(table_bits=12, match_bits=12, lr_record=256), ref)


def test_numbers_the_record_implies_are_predicted() -> None:
    """Format 11: a value that is the product, the sum or the difference of the record's last two numbers is proposed
    before it is coded, and costs little once priming has seen that it holds for its key."""
    import random

    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState

    rng = random.Random(0)

    def record() -> bytes:
        qty, price, tax, paid = rng.randint(1, 400), round(rng.uniform(1, 500), 2), round(rng.uniform(0, 50), 2), rng.randint(0, 900)
        value = round(qty * price, 2)
        total = round(value + tax, 2)
        fields = {"qty": qty, "price": price, "value": value, "tax": tax, "total": total, "paid": paid, "due": round(total - paid, 2)}
        return json.dumps(fields).encode()

    recs = [record() for _ in range(330)]
    ref = b"\0".join(recs[:300])
    base = CMConfig(table_bits=16, match_bits=16).contexts
    assert "num" in base  # in every model built from format 11 on
    sizes = {}
    for name, contexts in (("without", tuple(c for c in base if c != "num")), ("with", base)):
        st = CMState.build(CMConfig(table_bits=16, match_bits=16, contexts=contexts), ref)
        assert bool(int(st.cfg[K.C_XCTX]) & K.X_NUM) == (name == "with")
        sizes[name] = 0
        for rec in recs[300:]:
            coded = st.encode(rec, 2 * len(rec), ends=True)
            assert st.decode_ends(coded) == rec
            sizes[name] += len(coded)
    # three of the seven numbers follow from the two before them (0.52 when written)
    assert sizes["with"] < 0.7 * sizes["without"], sizes


def test_a_record_learns_at_its_own_rate() -> None:
    """Format 5: the mixers learn at ``lr_record`` while a record is coded; priming is the same either
    way (lr), and 0 codes exactly as every model before (the record learns at lr). One primed state codes at any
    rate it is set to (``set_record_rate``: a build tries several), exactly as a state built with that rate."""
    from nbmf.neural.cm import CMConfig, CMState

    rec = b"the licensee shall keep every notice; the licensor shall not " * 3
    ref = b"\0".join(b"the licensee shall keep the notice %d intact" % i for i in range(200))
    states = {r: CMState.build(CMConfig(table_bits=14, match_bits=14, lr=6, lr_record=r), ref) for r in (0, 6, 12)}
    assert np.array_equal(states[0].W0, states[12].W0) and np.array_equal(states[0].T, states[12].T)
    coded = {r: s.encode(rec, 2 * len(rec)) for r, s in states.items()}
    assert coded[0] == coded[6] != coded[12]
    assert states[12].decode(coded[12], len(rec)) == rec
    states[0].set_record_rate(12)
    assert states[0].encode(rec, 2 * len(rec)) == coded[12] and states[0].config.lr_record == 12
    assert states[0].decode(coded[12], len(rec)) == rec
    states[0].set_record_rate(0)
    assert states[0].encode(rec, 2 * len(rec)) == coded[0]
    with pytest.raises(CodecError, match="lr_record"):
        states[0].set_record_rate(256)


def test_a_record_trusts_the_match_models_as_told() -> None:
    """Format 16: ``match_trust`` scales the match models' inputs while a record is coded, never while priming (one
    primed state serves every trust: ``trust_matches``); 8 codes exactly as before, and each trust decodes its own."""
    from nbmf.neural.cm import CMConfig, CMState

    rec = b"the licensee shall keep the notice 7 intact; the licensee shall keep every notice" * 2
    ref = b"\0".join(b"the licensee shall keep the notice %d intact" % i for i in range(200))
    plain, five = (CMState.build(CMConfig(table_bits=14, match_bits=14, match_trust=t), ref) for t in (8, 5))
    assert np.array_equal(plain.W0, five.W0) and np.array_equal(plain.T, five.T)  # priming does not depend on it
    before = plain.encode(rec, 2 * len(rec))
    coded = five.encode(rec, 2 * len(rec))
    assert coded != before and five.decode(coded, len(rec)) == rec
    plain.trust_matches(5)
    assert plain.encode(rec, 2 * len(rec)) == coded and plain.config.match_trust == 5
    plain.trust_matches(8)
    assert plain.encode(rec, 2 * len(rec)) == before
    with pytest.raises(CodecError, match="match_trust"):
        plain.trust_matches(9)
    with pytest.raises(CodecError, match="match_trust"):
        CMState.build(CMConfig(table_bits=14, match_bits=14, match_trust=0), ref)


def test_the_mixers_choose_their_sets_by_the_highest_order_seen() -> None:
    """Format 17: mixers 1 and 2 select their weights by the highest order seen and its counter (``order_sets``):
    mixer 1 has 8 times format 6's sets, mixer 2 as many; priming learns other weights (and APMs), the same counters, and
    a record codes differently and decodes. Without the wide mixers (format 6) there is nothing to choose among."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState

    rec = b"def keep(notice):\n    return notice.strip() + ' 7 intact'\n" * 2
    ref = b"\0".join(b"def keep_%d(notice):\n    return notice.strip() + ' %d intact'\n" % (i, i) for i in range(200))
    old, new = (CMState.build(CMConfig(table_bits=14, match_bits=14, order_sets=o), ref) for o in (False, True))
    m_old, m_new = K.mixer_sets(int(old.cfg[K.C_XCTX])), K.mixer_sets(int(new.cfg[K.C_XCTX]))
    assert m_new[0] == K.ORDSEL_SETS1 * m_old[0] and m_new[1:] == m_old[1:]
    n = K.n_inputs(len(new.config.orders), int(new.cfg[K.C_XCTX]))
    assert new.W0.shape[0] - old.W0.shape[0] == (m_new[0] - m_old[0]) * n
    apms = K.layout(new.cfg)["apm1"]  # the counters are primed alike (the APM stages, after the mixers, are not)
    assert np.array_equal(old.T[:apms], new.T[:apms]) and not np.array_equal(old.T, new.T)
    coded = new.encode(rec, 2 * len(rec))
    assert coded != old.encode(rec, 2 * len(rec)) and new.decode(coded, len(rec)) == rec
    narrow = [CMState.build(CMConfig(table_bits=14, match_bits=14, wide_mixers=False, order_sets=o), ref) for o in (False, True)]
    assert narrow[0].encode(rec, 2 * len(rec)) == narrow[1].encode(rec, 2 * len(rec))


def test_a_fourth_mixer_selects_by_the_kinds_of_the_last_three_bytes() -> None:
    """Format 18: ``mixers`` 4 adds a mixer whose weights are chosen by the kinds of the last three bytes x c0, and the
    final mixer takes 4 weights a set, its sets chosen by those kinds too; the counters are primed alike, the mixers and
    APM stages not, and a record codes differently and decodes. Three mixers code as before."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState
    from nbmf.neural.tables import BYTE_CLASS

    assert [int(BYTE_CLASS[b]) for b in b"aZ5 \n'(;"] == [0, 1, 2, 3, 4, 5, 6, 7] and BYTE_CLASS[200] == 7
    rec = b"def keep(notice):\n    return notice.strip() + ' 7 intact'\n" * 2
    ref = b"\0".join(b"def keep_%d(notice):\n    return notice.strip() + ' %d intact'\n" % (i, i) for i in range(200))
    three, four = (CMState.build(CMConfig(table_bits=14, match_bits=14, mixers=m), ref) for m in (3, 4))
    m3, m4 = K.mixer_sets(int(three.cfg[K.C_XCTX])), K.mixer_sets(int(four.cfg[K.C_XCTX]))
    assert m3[:3] == m4[:3] and (m3[3], m4[3]) == (0, K.KINDS * 256) and (m3[5], m4[5]) == (K.FINAL_SETS, K.KINDS * K.FINAL_SETS)
    assert m3[4] == m4[4] == 0  # no fifth mixer (format 20)
    n = K.n_inputs(len(four.config.orders), int(four.cfg[K.C_XCTX]))
    assert four.W0.shape[0] - three.W0.shape[0] == m4[3] * n + m4[5] * 4 - m3[5] * 3
    apms = K.layout(four.cfg)["apm1"]
    assert np.array_equal(three.T[:apms], four.T[:apms]) and not np.array_equal(three.T, four.T)
    coded = four.encode(rec, 2 * len(rec))
    assert coded != three.encode(rec, 2 * len(rec)) and four.decode(coded, len(rec)) == rec


def test_a_fifth_mixer_knows_the_json_key_and_the_line_layout() -> None:
    """Format 20: ``mixers`` 5 adds a mixer whose weights are chosen inside JSON by the key the value belongs to (with
    in-string and depth), elsewhere by the line's layout (column, kinds of the previous byte and of the line's first);
    the final mixer takes 5 weights a set; mixer 4 and the final mixer select by the runs of byte kinds before the
    byte. Counters are primed alike, the mixers not. Priming on JSON teaches the JSON half of its sets (the layout
    half only before a record's first brace), on prose the layout half alone; a record codes differently, and
    decodes; four mixers keep format 19's sets."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState

    assert CMConfig().mixers == 6  # format 21 by default (format 20's mixer 5, and more)
    js = [b'{"name": "n%d", "qty": %d, "tags": ["a", {"k": %d}]}' % (i, i * 7, i % 5) for i in range(120)]
    prose = [b"the licensee shall keep notice %d intact\nin all copies of the software\n" % i for i in range(120)]
    four, five = (CMState.build(CMConfig(table_bits=14, match_bits=14, mixers=m), b"\0".join(js)) for m in (4, 5))
    m4, m5 = K.mixer_sets(int(four.cfg[K.C_XCTX])), K.mixer_sets(int(five.cfg[K.C_XCTX]))
    assert m4[:4] == m5[:4] and (m4[4], m5[4]) == (0, K.MIXER5_SETS) and m4[5] == m5[5]
    assert K.final_weights(int(four.cfg[K.C_XCTX])) == 4 and K.final_weights(int(five.cfg[K.C_XCTX])) == 5
    n = K.n_inputs(len(five.config.orders), int(five.cfg[K.C_XCTX]))
    assert five.W0.shape[0] - four.W0.shape[0] == m5[4] * n + m5[5]  # its sets, and one more final weight a set
    apms = K.layout(five.cfg)["apm1"]
    assert np.array_equal(four.T[:apms], five.T[:apms]) and not np.array_equal(four.T, five.T)

    def taught(state: CMState) -> tuple[int, int]:  # sets of mixer 5 priming moved: JSON half, layout half
        start = sum(m5[:4]) * n
        sets = state.W0[start : start + m5[4] * n].reshape(m5[4], n)
        moved = (sets != 12000).any(axis=1)
        return int(moved[: m5[4] // 2].sum()), int(moved[m5[4] // 2 :].sum())

    in_json, outside = taught(five)
    assert in_json > 200 and 0 < outside <= 64  # outside: the first brace's bits (col 0, after a record's end)
    in_json, outside = taught(CMState.build(CMConfig(table_bits=14, match_bits=14, mixers=5), b"\0".join(prose)))
    assert in_json == 0 and outside > 200
    for rec in (js[7] + b" ", b'{"name": "x", "qty": 12}\nthe licensee shall keep notice 3'):
        coded = five.encode(rec, 2 * len(rec))
        assert coded != four.encode(rec, 2 * len(rec)) and five.decode(coded, len(rec)) == rec


def test_a_second_final_mixer_chooses_as_the_fifth_mixer() -> None:
    """Format 21: ``mixers`` 6 adds a second final mixer whose weight sets are chosen by mixer 5's selector x bit
    position (the two final mixers averaged), gives mixer 5 sets by the word so far inside a word outside JSON, and
    indexes the third APM stage by three bytes. Counters are primed alike, the mixers and APM stages not; a record
    codes differently and decodes; on prose priming teaches mixer 5's word sets, which format 20 does not have."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState

    prose = [b"the licensee shall keep notice %d intact\nin all copies of the software\n" % i for i in range(120)]
    ref = b"\0".join(prose)
    five, six = (CMState.build(CMConfig(table_bits=14, match_bits=14, mixers=m), ref) for m in (5, 6))
    m5, m6 = K.mixer_sets(int(five.cfg[K.C_XCTX])), K.mixer_sets(int(six.cfg[K.C_XCTX]))
    assert m5[:4] == m6[:4] and m6[4] == m5[4] + K.MIXER5_WORD_SETS and m6[5] == m5[5] + K.FINAL2_SETS
    assert K.final_weights(int(six.cfg[K.C_XCTX])) == 5
    n = K.n_inputs(len(six.config.orders), int(six.cfg[K.C_XCTX]))
    assert six.W0.shape[0] - five.W0.shape[0] == K.MIXER5_WORD_SETS * n + K.FINAL2_SETS * 5
    apms = K.layout(six.cfg)["apm1"]
    assert np.array_equal(five.T[:apms], six.T[:apms]) and not np.array_equal(five.T, six.T)
    start = (sum(m6[:4]) + K.MIXER5_SETS) * n  # mixer 5's word sets follow format 20's
    words = six.W0[start : start + K.MIXER5_WORD_SETS * n].reshape(K.MIXER5_WORD_SETS, n)
    assert int((words != 12000).any(axis=1).sum()) > 200
    final2 = six.W0[-K.POST_SETS * 3 - K.FINAL2_SETS * 5 : -K.POST_SETS * 3]
    assert (final2 != 65536 // 5).any()  # the second final mixer learned while priming
    for rec in (prose[7], b'{"name": "x", "qty": 12}\nthe licensee shall keep notice 3'):
        coded = six.encode(rec, 2 * len(rec))
        assert coded != five.encode(rec, 2 * len(rec)) and six.decode(coded, len(rec)) == rec


def test_the_extra_contexts_read_through_maps_that_priming_learns() -> None:
    """Format 22: ``maps`` reads each extra context's counter (every hashed context after the orders, the word and the
    column) through a map by its count bucket x its probability, learned as an APM stage is. Without it the region does
    not exist; with it priming moves the maps off the identity, a record codes differently, decodes, and leaves the
    maps (and every other table) as priming left them."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState
    from nbmf.neural.tables import SQUASH

    prose = [b"the licensee shall keep notice %d intact\nin all copies of the software\n" % i for i in range(80)]
    js = [b'{"id": %d, "memo": "paid %d", "qty": %d}' % (i, i * 7, i % 9) for i in range(80)]
    ref = b"\0".join(prose + js)
    plain, mapped = (CMState.build(CMConfig(table_bits=14, match_bits=14, maps=m), ref) for m in (False, True))
    lay_p, lay_m = K.layout(plain.cfg), K.layout(mapped.cfg)
    assert lay_p["cmap"] == lay_p["size"]  # no maps before format 22
    extra = K.n_extra(int(mapped.cfg[K.C_XCTX]))
    assert lay_m["size"] - lay_m["cmap"] == extra * K.CMAP_COUNTS * K.APM_BUCKETS
    maps = mapped.T[lay_m["cmap"] : lay_m["size"]].reshape(extra, K.CMAP_COUNTS, K.APM_BUCKETS).astype(np.int64)
    ident = np.array([SQUASH[max(0, min(4095, (j * 4096 - 2048 * 23) // 23 + 2048))] * 16 for j in range(K.APM_BUCKETS)])
    moved = (maps != ident).any(axis=2)
    assert moved.sum() > extra  # priming taught the maps of most contexts at several counts
    assert moved[:, 0].sum() >= extra // 2  # counters seen once above all
    assert lay_p["cmap"] == lay_m["cmap"]  # every other region where it was
    for rec in (prose[7], b'{"id": 91, "memo": "paid 637", "qty": 1}\nthe licensee shall keep notice 3'):
        before = mapped.T.copy()
        coded = mapped.encode(rec, 2 * len(rec))
        assert np.array_equal(mapped.T, before)  # the record's map updates were journaled and undone
        assert coded != plain.encode(rec, 2 * len(rec)) and mapped.decode(coded, len(rec)) == rec


def test_the_shape_context_knows_the_layout_in_any_words() -> None:
    """Format 19: the ``shape`` context hashes the record's last runs of byte kinds (kind and length bucket; the record's
    start marked), one more hashed region. Records of two random words and a number, three times: after the second
    word's space a digit comes, after the first's a letter, which no byte context of random words says; with the shape
    they code smaller, and decode."""
    import random

    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState

    rng = random.Random(5)

    def word() -> bytes:
        return bytes(rng.choice(b"abcd") for _ in range(rng.randint(2, 9)))

    def group() -> bytes:
        return word() + b" " + word() + b" " + word().translate(bytes.maketrans(b"abcd", b"0123"))

    recs = [b" ".join(group() for _ in range(3)) for _ in range(360)]
    ref = b"\0".join(recs[:300])
    c18 = tuple(c for c in CMConfig().contexts if c != "shape")
    assert "shape" in CMConfig().contexts  # in every model built from format 19 on
    # five mixers, no maps (format 20): format 21's word sets and second final mixer learn some of the layout too (1.4 %
    # here), and format 22's maps are one more region per extra context
    five = {"table_bits": 14, "match_bits": 14, "mixers": 5, "maps": False}
    without, with_shape = (CMState.build(CMConfig(**five, contexts=c), ref) for c in (c18, (*c18, "shape")))
    assert bool(int(with_shape.cfg[K.C_XCTX]) & K.X_SHAPE) and not int(without.cfg[K.C_XCTX]) & K.X_SHAPE
    assert with_shape.T.shape[0] == without.T.shape[0] + (1 << 14)  # its hashed region
    sizes = {"without": 0, "with": 0}
    for rec in recs[300:]:
        for name, state in (("without", without), ("with", with_shape)):
            coded = state.encode(rec, 2 * len(rec))
            assert state.decode(coded, len(rec)) == rec
            sizes[name] += len(coded)
    # which kind follows a space is about a bit of a group's ~35 (its words' lengths and letters): 2.4 % here
    assert sizes["with"] < 0.985 * sizes["without"], sizes


def test_a_record_leaves_well_primed_counters_alone() -> None:
    """Format 8: while a record is coded, the shared counters primed ``freeze`` times or more keep their
    value (fewer writes to journal and undo); the threshold does not change priming (format 8's does
    differ from format 7's: it gives the linear input of young counters only), and 0 codes exactly as
    every model before (each counter learns)."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig, CMState

    rec = b"the licensee shall keep every notice; the licensor shall not " * 3
    ref = b"\0".join(b"the licensee shall keep the notice %d intact" % i for i in range(200))
    # (without format 22's maps, which learn in every record: the counters' writes are what freeze spares)
    states = {f: CMState.build(CMConfig(table_bits=14, match_bits=14, freeze=f, maps=False), ref) for f in (0, 8, 255)}
    assert np.array_equal(states[8].T, states[255].T) and np.array_equal(states[8].W0, states[255].W0)
    assert not np.array_equal(states[0].W0, states[8].W0)
    primed = {f: s.T.copy() for f, s in states.items()}
    coded = {f: s.encode(rec, 2 * len(rec)) for f, s in states.items()}
    assert coded[0] != coded[8] != coded[255]
    for f, s in states.items():
        assert s.decode(coded[f], len(rec)) == rec
    assert all(np.array_equal(s.T, primed[f]) for f, s in states.items())  # every record's writes undone

    def journaled(state: CMState) -> int:  # how many counter writes one record makes
        jidx, jold = np.zeros(1 << 20, np.int64), np.zeros(1 << 20, np.uint32)
        sets = K.weight_sets(int(state.cfg[K.C_XCTX]))
        wflag, wj, wold = np.zeros(sets, np.uint8), np.zeros(2 * sets + 1, np.int64), np.empty((sets, 64), np.int64)
        nn = state.nn
        out = np.zeros(2 * len(rec), np.uint8)
        K.process(K.ENCODE, state.cfg, state.T, state.W0, state.H, state.ref_len, np.frombuffer(rec, np.uint8), len(rec), out,
                  jidx, jold, wflag, wj, wold, nn.P, nn.B1, nn.WO, nn.BO, np.zeros((0, 2), np.int64))  # fmt: skip
        K.undo(state.T, jidx, jold)
        K.undo_weights(state.W0, wj, wold)
        return int(jidx[-1])

    assert journaled(states[8]) < 0.7 * journaled(states[0])
    with pytest.raises(CodecError, match="freeze"):
        CMState.build(CMConfig(table_bits=12, match_bits=12, freeze=256), ref)


def test_ways_keep_more_contexts_in_the_same_table() -> None:
    """Format 4: a context takes one of 4 slots of its group, so a small table loses fewer of the
    reference's contexts to collisions: same memory, smaller frames; one way codes as every older model."""
    from nbmf.neural.cm import CMConfig, CMState

    rng = np.random.default_rng(3)
    words = [bytes(rng.integers(97, 123, rng.integers(3, 9)).astype(np.uint8)) for _ in range(400)]
    ref = b"\0".join(b" ".join(words[i] for i in rng.integers(0, 400, 60)) for _ in range(300))
    recs = [b" ".join(words[i] for i in rng.integers(0, 400, 80)) for _ in range(20)]
    sizes = {}
    for ways in (1, 4):
        state = CMState.build(CMConfig(table_bits=12, match_bits=14, ways=ways), ref)
        assert state.T.shape[0] == CMState.build(CMConfig(table_bits=12, match_bits=14, ways=1), b"x").T.shape[0]
        coded = [state.encode(r, 2 * len(r)) for r in recs]
        assert [state.decode(c, len(r)) for c, r in zip(coded, recs, strict=True)] == recs
        sizes[ways] = sum(map(len, coded))
    assert sizes[4] < sizes[1]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=400).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_round_trip_and_state_restored(tiny, rec: bytes) -> None:  # type: ignore[no-untyped-def]
    state = tiny.shared_state()  # one state for every example: each record must leave it as it was
    before, weights = state.T.copy(), state.W0.copy()
    try:
        coded = state.encode(rec, 2 * len(rec) + 64)
    except CodecError:
        coded = None
    assert np.array_equal(state.T, before), "the journal must undo every write of the record"
    assert np.array_equal(state.W0, weights), "and every mixer weight the record changed"
    if coded is not None:
        assert state.decode(coded, len(rec)) == rec
        assert np.array_equal(state.T, before) and np.array_equal(state.W0, weights)


def test_an_int16_and_an_int32_first_layer_code_the_same_bytes(tiny) -> None:  # type: ignore[no-untyped-def]
    """The kernel sums an int16 table in int32 and an int32 one in int64: the same integers, the same frames."""
    state = tiny.state()
    assert state.nn.P.dtype == np.int16
    recs = tiny.test[:6]
    narrow = [state.encode(r, 2 * len(r) + 64) for r in recs]
    state.nn.P = state.nn.P.astype(np.int32)  # the same values, the other compiled kernel
    assert [state.encode(r, 2 * len(r) + 64) for r in recs] == narrow
    assert [state.decode(c, len(r)) for c, r in zip(narrow, recs)] == recs


def test_int32_mixer_weights_code_the_bytes_int64_ones_do(tiny) -> None:  # type: ignore[no-untyped-def]
    """A state keeps its mixer weights as int32 (``narrow_weights``): the same values, the same frames as int64; a
    record that could move a weight out of int32 is coded on a wide copy, and the state is left as it was."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import WEIGHT_HEADROOM, narrow_weights, weight_step

    state = tiny.state()
    assert state.W0.dtype == (np.int32 if K.NARROW else np.int64) and 0 < state.wmax <= WEIGHT_HEADROOM
    recs = tiny.test[:6]
    narrow = [state.encode(r, 2 * len(r) + 64, ends=True) for r in recs]
    weights, wmax = state.W0.copy(), state.wmax
    state.wmax = 2**31 - 8 * len(recs[0]) * weight_step(24)  # as if a weight lay that near the edge: a wide copy codes
    assert state.encode(recs[0], 2 * len(recs[0]) + 64, ends=True) == narrow[0]
    assert state.decode_ends(narrow[0]) == recs[0]
    assert np.array_equal(state.W0, weights) and state.W0.dtype == weights.dtype
    state.wmax = wmax
    wide = tiny.state()
    wide.W0 = wide.W0.astype(np.int64)  # the same values, the other compiled kernel
    assert [wide.encode(r, 2 * len(r) + 64, ends=True) for r in recs] == narrow
    post = state.learn_post(recs[:2], 5)  # the post mixer learns in the int32 weights as in int64 ones
    assert np.array_equal(wide.learn_post(recs[:2], 5), post) and post.dtype == np.int64
    over = np.array([0, WEIGHT_HEADROOM + 1], np.int64)
    assert narrow_weights(over)[0] is over and narrow_weights(over)[1] == WEIGHT_HEADROOM + 1  # beyond: stays int64
    if K.NARROW:  # priming (int64 weights, no journal) and a record coded on int64 weights: one compiled kernel, not two
        wide = [sig for sig in K.process.signatures if str(sig[3]) == "array(int64, 1d, C)"]
        assert len(wide) == len({str(sig[14]) for sig in wide}), wide  # one per first-layer type: a cold start compiles it once


def test_records_are_independent(tiny) -> None:  # type: ignore[no-untyped-def]
    state = tiny.shared_state()
    a, b = tiny.test[0], tiny.test[1]
    ca = state.encode(a, len(a) + 64)
    state.encode(b, len(b) + 64)
    assert state.encode(a, len(a) + 64) == ca  # coding b in between changes nothing for a
    assert state.decode(ca, len(a)) == a


def test_output_bound_and_size_limit(tiny) -> None:  # type: ignore[no-untyped-def]
    state = tiny.shared_state()
    rec = tiny.test[0]
    expected = state.encode(rec, 2 * len(rec) + 64)
    before, weights = state.T.copy(), state.W0.copy()
    noise = np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes()
    for cut in (len(noise), 8, 0):  # the kernel stops early at the bound: its writes are undone all the same
        with pytest.raises(CodecError, match="did not shrink"):
            state.encode(noise, max_out=cut)
        assert np.array_equal(state.T, before) and np.array_equal(state.W0, weights)
    # so the next record codes from the primed state, as in any other process (a state left changed
    # made frames that only the process which coded them could decode)
    assert state.encode(rec, 2 * len(rec) + 64) == expected
    assert tiny.state().decode(expected, len(rec)) == rec
    with pytest.raises(CodecError, match="up to"):
        state.encode(bytes(1 << 17))


def test_a_kernel_that_does_not_record_its_journal_breaks_the_state_loudly(tiny, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Fault injection: should a kernel return without writing its journal's length (the early-stop bug),
    the state refuses every later record instead of coding frames that only this process could decode."""
    from nbmf.neural import kernel as K

    state = tiny.state()
    rec = tiny.test[0]
    real = K.process

    def forgetful(*args):  # type: ignore[no-untyped-def]
        got = real(*args)
        args[9][-1] = -1  # jidx: as if the count had never been written
        return got

    monkeypatch.setattr(K, "process", forgetful)
    with pytest.raises(CodecError, match="cannot be trusted"):
        state.encode(rec, 2 * len(rec) + 64)
    monkeypatch.setattr(K, "process", real)
    assert state.broken is not None
    with pytest.raises(CodecError, match="load the model again"):
        state.decode(b"\0" * 8, 10)


def test_journal_buffers_serve_one_record_after_another(tiny, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A state reuses its journal buffers (``cm._journal``) for records up to ``SCRATCH_RECORD`` bytes:
    records of every size, early stops and a model of another shape in between code exactly as each would
    from a fresh state, and every record's writes are undone."""
    from nbmf.neural import cm as cm_mod
    from nbmf.neural.cm import CMConfig, CMState

    monkeypatch.setattr(cm_mod, "SCRATCH_RECORD", 1500)  # so the test's records fall on both sides of it
    state = tiny.state()
    other = CMState.build(CMConfig(table_bits=14, match_bits=14, wide_mixers=False, lr=6), tiny.reference[:50_000])
    before, weights = state.T.copy(), state.W0.copy()
    noise = np.random.default_rng(1).integers(0, 256, 700, dtype=np.uint8).tobytes()
    recs = [r for r in tiny.test[:12]] + [b"".join(tiny.test[:6])[:4000], tiny.test[0][:40]]
    primed = tiny.state()  # primed apart: codes each record with no early stop nor other model between
    fresh = [primed.encode(r, 2 * len(r) + 64) for r in recs]
    passes: list[int] = []
    run = state._run
    monkeypatch.setattr(state, "_run", lambda mode, data, n, *a, **k: passes.append(n) or run(mode, data, n, *a, **k))
    for r, expected in zip(recs, fresh, strict=True):
        assert state.encode(r, 2 * len(r) + 64) == expected
        with pytest.raises(CodecError, match="did not shrink"):
            state.encode(noise, max_out=20)
        o = other.encode(r, 2 * len(r) + 64)
        assert other.decode(o, len(r)) == r
        assert state.decode(expected, len(r)) == r
        ends = state.encode(r, 2 * len(r) + 64, ends=True)
        passes.clear()
        assert state.decode_ends(ends) == r
        # a record up to SCRATCH_RECORD bytes decodes in one pass on the kept buffers, a longer one in two
        assert passes == ([1500] if len(r) <= 1500 else [1500, max(3000, 32 * len(ends) + 64)])
        assert np.array_equal(state.T, before) and np.array_equal(state.W0, weights)
    assert any(len(r) > 1500 for r in recs) and any(len(r) <= 1500 for r in recs)


def _high_orders_used(*states: Any) -> tuple[slice, list[int]]:
    """The hashed tables of orders 4 and up (16-bit tables), and how many of their slots each state uses."""
    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMConfig

    lay = K.layout(states[0].cfg)
    high = slice(lay["hashed"] + (2 << 16), lay["hashed"] + (len(CMConfig().orders) << 16))
    return high, [int(np.count_nonzero((s.T[high] >> 8) & 255)) for s in states]


def _coded_sizes(states: Any, records: Any) -> list[int]:
    """Each record coded by each state, state by state: its size; every one decodes, with its length or its end."""
    sizes = []
    for s in states:
        for r in records:
            coded = s.encode(r, 2 * len(r))
            assert s.decode(coded, len(r)) == r and s.decode_ends(s.encode(r, 2 * len(r), ends=True)) == r
            sizes.append(len(coded))
    return sizes


def test_a_context_seen_once_takes_one_slot_and_still_predicts() -> None:
    """Format 13 (``once``): priming on text whose long contexts are all new writes one slot per context where
    format 12 wrote one per bit; a context met again predicts from the byte its slot recorded, as a counter seen
    once would have, so a record of pieces of the reference codes about as small, and every record round-trips."""
    from nbmf.neural.cm import CMConfig, CMState

    rng = np.random.default_rng(7)
    ref = bytes(rng.integers(97, 123, 4_000).tolist())  # random letters: every order 4+ context is new
    # matches only from 20 bytes on, so the pieces below are coded by the hashed contexts, not the match models
    small = {"table_bits": 16, "match_bits": 14, "match_min": (20, 32), "contexts": (), "post_mix": False}
    per_bit, once = (CMState.build(CMConfig(**small, once=o, runs=False), ref) for o in (False, True))
    high, used = _high_orders_used(per_bit, once)
    assert used[1] < 0.2 * used[0]  # about an eighth: one slot for the byte, none for its other seven bits
    assert (((once.T[high] >> 8) & 255) == 1).sum() > 0.9 * used[1]  # and those record the byte: seen once
    rec = b"".join(ref[s : s + 12] for s in rng.integers(0, 3_900, 80))  # 12-byte pieces of the reference
    fresh = bytes(rng.integers(97, 123, len(rec)).tolist())
    sizes = _coded_sizes((per_bit, once), (rec, fresh))
    assert sizes[2] < 0.5 * sizes[3] and abs(sizes[2] - sizes[0]) <= 0.1 * sizes[0]  # met again: predicted as before


def test_a_context_always_followed_by_the_same_byte_keeps_one_slot() -> None:
    """Format 14 (``runs``): a context met again and again, always followed by the same byte, stays in its one slot
    and counts; format 13 gave it a slot for each bit from the second sighting on. A record whose bytes part from
    the runs (and one that follows them) round-trips, coded about as small."""
    from nbmf.neural.cm import CMConfig, CMState

    rng = np.random.default_rng(11)
    words = [bytes(rng.integers(97, 123, int(rng.integers(8, 14))).tolist()) for _ in range(150)]
    ref = b" ".join(words[int(i)] for i in rng.integers(0, len(words), 1_500))  # each word's long contexts: one follower
    small = {"table_bits": 16, "match_bits": 14, "match_min": (20, 32), "contexts": (), "post_mix": False}
    per_bit, runs = (CMState.build(CMConfig(**small, runs=r), ref) for r in (False, True))
    high, used = _high_orders_used(per_bit, runs)
    assert used[1] < 0.75 * used[0]  # (the contexts across a word's end vary: they still take a slot per bit)
    odd = (runs.T[high] >> 16) & 1
    assert ((((runs.T[high] >> 8) & 255) > 1) & (odd == 1)).sum() > 0.2 * used[1]  # runs seen more than once
    same = b" ".join(words[int(i)] for i in rng.integers(0, len(words), 60))
    parted = b" ".join(w[:5] + bytes(reversed(w[5:])) for w in (words[int(i)] for i in rng.integers(0, len(words), 60)))
    sizes = _coded_sizes((per_bit, runs), (same, parted))
    assert abs(sizes[2] - sizes[0]) <= 0.1 * sizes[0] and abs(sizes[3] - sizes[1]) <= 0.1 * sizes[1], sizes
