"""The compiled step: one function that primes, encodes or decodes a record, bit by bit.

    per byte:  context hashes (orders 2..n, word, column, ..., and the record's own word and last three
               bytes, which only the record so far has trained: format 7) ; match models over reference + record ;
               neural hidden layer h = requant(sum_i P[i, byte_{-i}] + b1)           (all integers)
    per bit:   inputs x = stretch(counter) for o0, o1, hashed orders, word, column, 2 match models,
               (a hashed context's counter: the slot of its group of 4 that holds its check byte, else
               the least seen one, replaced; one slot per context before format 4),
               neural logit Wout[c0] . h ; mixer p = squash(x . w[sel]) ; 2 APM stages (3: format 4) ;
               binary arithmetic coder (32-bit, 12-bit probabilities) ; update everything with the bit
Every quantity is an integer, so encoder and decoder compute identical probabilities on any machine
(the same source also runs as plain Python: the reference the compiled step is tested against).
Writes to the shared primed state during a record (counters, and each mixer weight set before its
first change) are journaled and undone after it -- also when the kernel stops early -- so each record
is coded from the same primed state (random access) at the cost of its own writes only.
Format 8 freezes what priming taught well: while a record is coded, a counter of the shared hashed
contexts that was seen ``freeze`` times or more keeps its primed value (no write, no journal entry, no
undo); rarer and new ones still learn, as do the record's own contexts, the mixers and the APMs. And a
hashed context's linear input is given only while its counter is young (``LIN_SEEN``).
Format 9 also primes where records end (``X_END``), so a record coded with ``ENDS`` carries its own end
and its frame no length (frame version 4, docs/FORMAT.md).
Format 10 follows the line's layout and the open brackets (``X_LINE``, ``X_PAREN``); format 11 the numbers that the
record's last two numbers imply (``X_NUM``). Format 13 gives a hashed context seen once one slot, not one per bit
(``X_ONCE``): the slot records the byte, and the bits' slots are made when the context is met again.
Speed: the tables are hundreds of MB, read at random, so each bit's lookups would wait on memory. As soon
as a bit is known, the next bit's table groups (and APM rows) are hashed and prefetched (``_prefetch``,
a cache hint that changes no value), and their misses overlap with this bit's updates. Likewise the
predictor's next first layer: 63 of its 64 rows are named by bytes already known, so each bit asks for an
eighth of them while the byte is coded. Two things numba does by itself cost time in a per-bit loop (found with
perf, thirty-third session): a call to another compiled function that takes arrays changes their reference counts
with atomic instructions (so the per-bit work saves the mixers' weight sets in place, where it called
``_save_set``; the helpers it does call are inlined), and an array index of a signed type is wrapped around
when negative, which keeps a loop over consecutive elements from loading them as vectors (so the mixers' weights
are indexed through ``_u``).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config as numba_config
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from nbmf.neural.tables import BYTE_CLASS, RATES, SQUASH, STRETCH

PRIME, ENCODE, DECODE = 0, 1, 2

# layout of the integer configuration vector ``cfg``
C_NORD, C_BITS, C_LIMIT, C_LR, C_MIN1, C_MIN2, C_MBITS, C_USE_NN, C_NN_ONLY, C_NN_CTX, C_NN_H, C_NN_M1, C_NN_S1, C_NN_M2, C_XCTX = range(15)
# cfg[C_XCTX] (0 in every model made before these, which keeps their frames bit-exact): extra hashed
# contexts after word and column -- JSON structure (key, depth, place in the value), word unigram --
# and X_MIX3: a third mixer (weights selected by bit position x previous byte) whose output joins the
# other two in a learned final mixer, instead of the two being averaged
# X_MATCH: a hashed context of the byte the longest match predicts, its length bucket and the previous
# byte; X_APM3: a third APM stage, over the previous two bytes (hashed) x c0 (both: artifact format 4)
X_JSON, X_WORD, X_MIX3, X_IND, X_MATCH, X_APM3 = 1, 2, 4, 8, 16, 32
# X_IND3: what followed the last three bytes the last two times (hashed, 64K histories); X_WORD3: the
# current word and the two words before it (both: artifact format 5)
X_IND3, X_WORD3 = 64, 256
# X_RECW, X_REC3 (artifact format 7): contexts of the record alone. Their hashes include the number of
# the record being coded (each reference record while priming, 0 for a record coded), so nothing primed
# matches them and they learn only from the record so far: the current word (between words: the
# previous word and byte), and the last three bytes. Priming teaches the mixers how far to trust them.
# Their regions hold 2^min(table bits, REC_BITS) slots (a record needs few) after the other regions.
# Mixer 1 also selects its weights by which of them were seen (``mixer_sets``).
X_RECW, X_REC3 = 1024, 2048
REC_BITS = 20
# cfg[C_LR] = lr | lr_record << 8 (format 5) | freeze << 16 (format 8): while a record is coded, the shared
# hashed contexts' counters seen ``freeze`` times or more are not updated (0: every counter learns, as
# before format 8). Journaling and undoing every counter write was about a fifth of a record's time; with
# freeze 8 the core codes 11 % faster for 0.1-0.25 % more bytes (docs/NEURAL.md "Format 8").
# Format 8 also gives a hashed context's second, linear input ((p - 1/2) / 2) only while its counter has
# been seen fewer than LIN_SEEN times (0 after): +0.2 % on general and technical, which pays for freeze.
LIN_SEEN = 4
# X_END (artifact format 9): the model also codes where a record ends, so a frame needs no length (frame
# version 4). After each byte, one binary decision "the record ends here" with the probability of a
# counter selected by (the last two bytes, outside any JSON value?, length bucket): 2^16 counters after the
# record's regions, learned while priming (each reference record ends before its \0) and left alone by a
# record. Only a caller that asks (``ENDS`` in ``mode``) codes them: frames with a length code as before.
X_END = 4096
# X_LINE (artifact format 10): a hashed context of the line's layout. In the line's leading spaces or tabs:
# (how far in, the previous line's indentation, the previous line's first token); after them: (the line's
# first token, its indentation, the previous two bytes). Code and indented text predict a line by its head.
# X_PAREN (format 10): a hashed context of the open brackets: how many ( [ { are open (up to 15), the kinds
# of the last four opened, the previous byte (what closes next, and what a call or a literal holds).
X_LINE = 16384
X_PAREN = 32768
# X_NUM (artifact format 11): a hashed context of the numbers a record's earlier numbers imply. When a number ends
# (outside JSON strings), the product, the difference and the sum of the last two (at the larger of their scales,
# written as Python writes a float when either had a point) become three candidates for the next number; the context
# is (the JSON key, at a value's start?, in a string?, the byte each candidate predicts next: 256 once it failed, 257
# once it is complete). Priming learns per key whether one holds (quantity x price = amount; value - cost = gain;
# subtotal + tax = total).
X_NUM = 8192
# X_POST (artifact format 12): a last mixer after the APM stages, over the final probability's stretch, the neural
# stretch and a bias, its weights chosen by match state x bit position (POST_SETS, starting as the identity). The APM
# stages calibrate the mixers' output by contexts the predictor does not enter, and their average dilutes what it
# says. Priming does not train it: on the reference, which the predictor was trained on, it learns to distrust the
# predictor. Its weights come with the predictor (``NeuralWeights.post``), learned on val records at build time, and
# stay as they are while a record is coded: learning there cost the core 0.2 % (thirty-seventh session).
X_POST = 65536
X_POST_LEARN = 131072  # set by ``CMState.learn_post`` only: the post mixer learns (and is not undone)
# X_ONCE (artifact format 13): a hashed context seen once takes one slot, not one per bit. The first time a context is
# met, its slot for the byte's first bit records the whole byte that followed (in the probability's place; seen
# once); the byte's other bits take no slot. The next time, that slot gives each bit the prediction a counter seen
# once would give (while the byte so far agrees with the recorded one), then becomes an ordinary counter, and the
# bits' slots are made as they were before. Contexts seen once filled a fifth of technical's high orders' slots.
X_ONCE = 262144
# X_RUN (artifact format 14, with X_ONCE): the one slot stays while the same byte has followed the context every
# time. It counts the sightings (in the confidence's place) and holds the byte and 7 more bits of the context's hash
# (a stray match would cost a whole byte, not a bit): bit 16 set marks it, so an ordinary first-bit counter keeps
# that bit clear. Each bit gets the prediction a counter that saw the run would give (``vr``). When a byte parts from
# the run, the bits up to there and the run's byte's later bits become the counters the run stands for, and the
# context goes on as an ordinary one; a run longer than RUN_CAP does too. Core alone (``bench/tune_cm.py``): technical
# +0.9 %, general +0.7 %, legal +0.2 %, financial -0.4 % (thirty-ninth session).
X_RUN = 524288
RUN_CAP = 255
# X_LATE (artifact format 15, with X_POST): the predictor is not one of the mixers' inputs; it has its say in the post
# mixer only, whose weights are learned on val records. The mixers learn while priming, on the reference, and a
# predictor trained over that text many times (a GPU run: 37 passes over general's) is far surer there than on a new
# record (general: 1.02 against 2.13 bits per byte held out), so the mixers learned to lean on it and to discount the
# core's counters: general coded 2.7 % larger with that predictor than with none. The build chooses (``ModelConfig.
# predictor_place``); held-out general with it late: 3.9 % smaller (forty-first session).
X_LATE = 1048576
# cfg[C_LR] bits 32-35 (artifact format 16): the match models' trust, in eighths (0: 8, as before). While a record is
# coded (not while priming), the two match models' inputs to the mixers are scaled by it. Priming meets matches in the
# reference, where a record's own document has its other records, and the mixers learn how far a match holds there; in
# a record of a new document a match holds less often. The build chooses the trust on val records (``match_trust``):
# technical's core codes 0.3 % smaller at 5/8 (forty-second session).
TRUST_SHIFT = 32
# X_ORDSEL (artifact format 17, with X_WIDE): mixers 1 and 2 choose their weight sets by the highest order whose context
# was seen (``hiord``: 1 + its index among the orders, 0: none) and by what its counter is (``hdet``: 0 seen once, 1 seen
# fewer than 8 times, 2 unsure, 3 sure; 4-7 a run's slot by the run's length, 1 / 2-3 / 4-7 / 8 or more). Mixer 1: match
# state x hiord bucket (0-2, 3-4, 5-6, 7) x hdet x the record's own contexts seen x c0, where it had the number of hashed
# contexts seen; mixer 2: hiord bucket x hdet x the top 3 bits of the byte before the previous x c0, where it had that
# whole byte. How far to trust each input depends on how long a context the text so far has been met with and how sure
# that context is. Core alone, technical's held-out set: 0.66 % smaller (forty-third session).
X_ORDSEL = 2097152
ORDSEL_SETS1 = 8  # mixer 1 has this many times format 6's sets (hdet)
# X_MIX4 (artifact format 18, with X_MIX3): a fourth mixer over the same inputs, its weights selected by the kinds of the
# last three bytes (``tables.BYTE_CLASS``: lowercase, uppercase, digit, space, line break, quote, bracket, other) x c0,
# joins the other three in the final mixer (4 weights a set), whose sets are chosen by those kinds too (x match state x
# bit position). Mixers 1 and 2 select by what the contexts have seen, 3 by the previous byte; none knew whether the
# text is in a word, a number, an indentation or between brackets, which changes how far each context, and each mixer,
# holds (forty-fourth session: docs/NEURAL.md, "Format 18").
X_MIX4 = 4194304
KINDS = 512  # the kinds of the last three bytes (8 each)
MIXER4_SETS = KINDS * 256
# X_SHAPE (artifact format 19): a hashed context of the record's shape: its last SHAPE_RUNS runs of byte kinds (the
# kinds of X_MIX4), each as its kind and its length (1, 2, 3-5, 6 or more; a run of quotes, brackets or other bytes by
# its nearest byte, not its kind), looking back SHAPE_BACK bytes at most and not before the record's start (``_shape``).
# Where the orders see which bytes came before, it sees the layout they made: a word after an indentation and a
# bracket, a number after a quote and a colon, the third word of a line; what comes next in a kind of text, in any
# words (forty-fifth session: docs/NEURAL.md, "Format 19").
X_SHAPE = 8388608
SHAPE_RUNS = 8
SHAPE_BACK = 64
# X_MIX5 (artifact format 20, with X_MIX4): a fifth mixer over the same inputs. Inside JSON (nesting depth above 0) its
# weights are selected by in-string x depth (up to 3) x the key the value belongs to (64 buckets of its hash), elsewhere
# by the line's layout: the column (0, 1, 2, 3, 4-7, 8-15, 16-31, 32 or more) x the previous byte's kind x the kind of
# the line's first byte; x c0. It joins the final mixer (5 weights a set). With it, mixer 4 and the final mixer select by
# the runs before the byte (``_runs_sel``: the last run's kind and length bucket, the kind of the run before it and
# whether that one was longer than a byte) instead of the kinds of the last three bytes; mixer 2's sets of format 17 by
# the kind of the byte before the previous instead of its top 3 bits; and the three APM stages weigh 2, 5 and 7 against
# the mixers' 2 (sixteenths) instead of a quarter each (forty-sixth session: docs/NEURAL.md, "Format 20").
X_MIX5 = 16777216
MIXER5_SETS = 1024 * 256
# X_FINAL2 (artifact format 21, with X_MIX5): a second final mixer over the five mixers, its weight sets chosen by mixer
# 5's selector x bit position; the two final mixers' outputs are averaged in the stretch domain, each learning from its
# own error. With it mixer 5, outside JSON and inside a word, selects by the word so far (512 buckets of its hash: 512
# x 256 more sets) instead of the line's layout, and the third APM stage is indexed by the last three bytes (hashed)
# instead of two (forty-sixth session: docs/NEURAL.md, "Format 21").
X_FINAL2 = 33554432
MIXER5_WORD_SETS = 512 * 256
FINAL2_SETS = 1536 * 8
# X_CMAP (artifact format 22): each extra hashed context (JSON, word, indirect, line, number, shape, the record's own:
# every one after the orders, the word and the column) is read through a map of its own instead of as its counter says:
# by how often the counter was seen (``_cmap_count``: 8 buckets, 4 more for a byte seen once or a run by its length) x
# its probability (24 buckets over the stretch domain, interpolated as the APM stages are), learned as they are (the
# nearer bucket, 1/128 of the error). So a context that is overconfident, or too shy, at a count says what such counters
# turn out to mean (forty-eighth session: docs/NEURAL.md, "Format 22").
X_CMAP = 67108864
CMAP_COUNTS = 12
POST_SETS = 32  # match state (4) x bit position (8), 3 weights each
POST_RATES = (2, 5)  # learning rates ``nbmf.neural.build.learn_post`` tries (cfg[C_LR] bits 24-31 while it learns)
NUM_LEN = 24  # the longest candidate written out
NUM_CAND = 3  # candidates: product, difference, sum
NUM_MAX = 1 << 31  # larger operands give no candidate (their product would not fit)
END_SLOTS = 65536
ENDS = 4  # mode | ENDS: encode the ends, or decode until one (returns the bytes decoded; -4: none within n)
X_NAMES = {
    "json": X_JSON,
    "word": X_WORD,
    "ind": X_IND,
    "match": X_MATCH,
    "ind3": X_IND3,
    "word3": X_WORD3,
    "line": X_LINE,
    "paren": X_PAREN,
    "num": X_NUM,
    "shape": X_SHAPE,
    "recw": X_RECW,
    "rec3": X_REC3,
}
# X_WIDE (artifact format 6): mixer 1's weights selected by match state x contexts seen (4 buckets) x c0
# (instead of match state x c0), mixer 2's by the byte before the previous x c0 (instead of contexts
# seen x c0), mixer 3's by the previous byte x c0 (instead of bit position x previous byte)
X_WIDE = 512
WIDE_SETS = 65536  # mixers 2 and 3 with X_WIDE
WIDE_SETS1 = 4096  # mixer 1 with X_WIDE
MIXER3_SETS = 2048  # mixer 3: bit position (8) x previous byte (256)
FINAL_SETS = 32  # final mixer: match state (4) x bit position (8), 3 weights each
C_WAYS = 15  # cfg[C_WAYS]: slots a hashed context may take in its aligned group (0 or 1: one slot, before format 4)
C_ORDERS = 16  # cfg[16 : 16 + nord] are the hashed orders
MIXER_SETS = 1024  # mixer 1: match state (4) x partial byte c0 (256)
MIXER2_SETS = 4096  # mixer 2: number of hashed contexts seen before (16) x c0
WEIGHT_SETS = MIXER_SETS + MIXER2_SETS + MIXER3_SETS + FINAL_SETS  # what a record may save (``process``)


def mixer_sets(xctx: int) -> tuple[int, int, int, int, int, int]:
    """Weight sets of mixers 1, 2, 3, 4, 5 and the final mixer (3 and the final mixer only with X_MIX3, 4 only with
    X_MIX4, 5 only with X_MIX5: else 0 sets; with X_FINAL2 mixer 5's word sets and the second final mixer's sets
    counted too). With the record's own contexts (format 7), mixer 1 also selects by which of them were seen: 2^n_rec
    times the sets."""
    fourth = MIXER4_SETS if xctx & X_MIX4 else 0
    five = bool(xctx & X_MIX4 and xctx & X_MIX5)
    final2 = five and bool(xctx & X_FINAL2)
    fifth = (MIXER5_SETS + (MIXER5_WORD_SETS if final2 else 0)) if five else 0
    final = FINAL_SETS * (KINDS if xctx & X_MIX4 else 1) + (FINAL2_SETS if final2 else 0)  # format 21: both final mixers
    wide = bool(xctx & X_WIDE)
    if wide:
        ones = (WIDE_SETS1 * (ORDSEL_SETS1 if xctx & X_ORDSEL else 1)) << n_rec(xctx)
        return ones, WIDE_SETS, WIDE_SETS, fourth, fifth, final
    return MIXER_SETS, MIXER2_SETS, MIXER3_SETS, fourth, fifth, final


def final_weights(xctx: int) -> int:
    """Weights in each of the final mixer's sets: one per mixer before it (3; 4 with X_MIX4; 5 with X_MIX5 too)."""
    if xctx & X_MIX4:
        return 5 if xctx & X_MIX5 else 4
    return 3


def weight_sets(xctx: int) -> int:
    """Every weight set a record may save (``process``), mixer 3 and the final mixer counted."""
    return sum(mixer_sets(xctx))


def n_extra(xctx: int) -> int:
    """Hashed contexts after the orders, word and column: the shared ones, then the record's own."""
    one_each = X_JSON | X_WORD | X_MATCH | X_IND3 | X_WORD3 | X_LINE | X_PAREN | X_NUM | X_SHAPE
    return bin(xctx & one_each).count("1") + (2 if xctx & X_IND else 0) + n_rec(xctx)


def n_rec(xctx: int) -> int:
    """The record's own contexts (format 7), the last hashed contexts; their regions come after all others."""
    return int(bool(xctx & X_RECW)) + int(bool(xctx & X_REC3))


def n_inputs(nord: int, xctx: int = 0) -> int:
    """o0, o1, two inputs per hashed context (nord orders + word + column + extras), 2 match, neural, bias."""
    return 2 * (nord + 2 + n_extra(xctx)) + 6


APM_BUCKETS = 24

M32 = 0xFFFFFFFF


def layout(cfg: np.ndarray) -> dict[str, int]:
    """Offsets of every region inside the one counter array ``T`` (so one journal covers all)."""
    nord, bits, mbits = int(cfg[C_NORD]), int(cfg[C_BITS]), int(cfg[C_MBITS])
    off = {"o0": 0, "o1": 256}
    pos = 256 + 65536
    off["hashed"] = pos
    nrec = n_rec(int(cfg[C_XCTX]))
    pos += (nord + 2 + n_extra(int(cfg[C_XCTX])) - nrec) << bits  # hashed orders + word + column + extras
    off["sm"] = pos
    pos += 2 * 64 * 2  # two match models: (min(len, 63), expected bit)
    off["mt1"] = pos
    pos += 1 << mbits
    off["mt2"] = pos
    pos += 1 << mbits
    off["apm1"] = pos
    pos += 256 * APM_BUCKETS
    off["apm2"] = pos
    pos += 65536 * APM_BUCKETS
    off["ind"] = pos
    if int(cfg[C_XCTX]) & X_IND:
        pos += 256 + 65536
    off["ind3"] = pos
    if int(cfg[C_XCTX]) & X_IND3:
        pos += 65536
    off["apm3"] = pos
    if int(cfg[C_XCTX]) & X_APM3:
        pos += 65536 * APM_BUCKETS
    off["rec"] = pos
    pos += nrec << min(bits, REC_BITS)
    off["end"] = pos
    if int(cfg[C_XCTX]) & X_END:
        pos += END_SLOTS
    off["cmap"] = pos
    if int(cfg[C_XCTX]) & X_CMAP:
        pos += n_extra(int(cfg[C_XCTX])) * CMAP_COUNTS * APM_BUCKETS
    off["size"] = pos
    return off


# the mixers' inputs (each within +-2047) as int32: compiled, an int32 input times an int32 weight (``cm.narrow_weights``)
# is one vector multiply into int64 (numba types the product int64). Plain Python keeps inputs and weights int64:
# numpy's int32 scalars multiply into int32, and the plain run is the reference the compiled one is checked against
NARROW = not getattr(numba_config, "DISABLE_JIT", 0)
XIN = np.int32 if NARROW else np.int64

if getattr(numba_config, "DISABLE_JIT", 0):  # the plain-Python run of the kernel (tests)

    def _prefetch(arr: np.ndarray, i: int) -> None:
        """A cache hint only (plain Python: nothing to do)."""

else:

    @intrinsic
    def _prefetch(typingctx, arr, i):  # type: ignore[no-untyped-def]
        """Ask the CPU to bring ``arr[i]``'s cache line in (llvm.prefetch): values are unchanged."""

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False, boundscheck=False)  # type: ignore[no-untyped-call]
            i8p = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i8p, ir.IntType(32), ir.IntType(32), ir.IntType(32)])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch")  # type: ignore[no-untyped-call]
            i32 = ir.IntType(32)
            builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, i), codegen


@njit(cache=True)
def _hash(a: int, b: int) -> int:
    x = ((a * 0x2C9277B5) ^ (b * 0x1B873593) ^ (a >> 15)) & M32
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & M32
    return (x ^ (x >> 15)) & M32


@njit(cache=True)
def _counter_p(v: int) -> int:
    return v >> 16  # 16-bit probability of a 1


@njit(cache=True)
def _counter_update(v: int, y: int, limit: int, rates: np.ndarray) -> int:
    p = v >> 16
    n = (v >> 8) & 255
    chk = v & 255
    target = 65535 if y else 0
    p += ((target - p) * rates[n]) >> 16
    if p < 32:
        p = 32
    elif p > 65503:
        p = 65503
    if n < limit:
        n += 1
    return (p << 16) | (n << 8) | chk


@njit(cache=True, inline="always")
def _u(i: int) -> np.uint64:
    """An index that is never negative, as numba's unsigned type: indexing with it skips the wrap-around of a
    negative index, so a loop over consecutive elements can load them as vectors."""
    return np.uint64(i)


@njit(cache=True, inline="always")
def _mix(xin: np.ndarray, W: np.ndarray, sel: int) -> int:
    """One mixer's stretched output: its inputs ``xin`` by the weight set starting at ``W[sel]`` (16.16 fixed point),
    clipped to the stretch domain."""
    dot = 0
    for k in range(xin.shape[0]):
        dot += xin[k] * W[_u(sel + k)]
    dot >>= 16
    if dot > 2047:
        dot = 2047
    elif dot < -2047:
        dot = -2047
    return dot


@njit(cache=True, inline="always")
def _group(gbase: np.ndarray, k: int, bits: int, hh: int, ways: int) -> int:
    """Where hashed context ``k``'s group of ``ways`` slots starts, for the hash ``hh`` of (context, c0):
    its region starts at ``gbase[k]`` and has ``2^bits`` slots, or fewer for the record's own (format 7)."""
    rb = bits if k < gbase.shape[0] - 1 - gbase[gbase.shape[0] - 1] else min(bits, REC_BITS)
    return int(gbase[k]) + (hh & ((1 << rb) - 1) & ~(ways - 1))


@njit(cache=True, inline="always")
def _slot(T: np.ndarray, group: int, ways: int, chk: int) -> int:
    """A context's slot in its group of ``ways`` (from ``_group``): the one that holds its check byte ``chk``, else the
    one seen least (it is replaced at the update); one way: the slot the hash names."""
    slot = group
    least = np.int64(1 << 30)
    for w in range(ways):
        v = int(T[group + w])
        seen = np.int64((v >> 8) & 255)
        if (v & 255) == chk and seen > 0:
            return group + w
        if seen < least:
            least = seen
            slot = group + w
    return slot


@njit(cache=True)
def _write_number(cand: np.ndarray, clen: np.ndarray, q: int, v: int, scale: int, point: int) -> None:
    """Candidate ``q`` (format 11): the number v / 10^scale as Python writes a float when ``point`` (the fraction's
    trailing zeros dropped, at least one digit after the point), else as an integer; too long: no candidate."""
    digits = np.zeros(NUM_LEN + 2, dtype=np.int64)
    a = abs(v)
    n = 0
    while (a > 0 or n <= scale) and n < NUM_LEN + 2:  # least significant first, at least one before the point
        digits[n] = a % 10
        a //= 10
        n += 1
    if a > 0:
        clen[q] = 0
        return
    lo = 0  # trailing zeros of the fraction are not written (one is, after a point with nothing else)
    if point:
        while lo < scale - 1 and digits[lo] == 0:
            lo += 1
    m = 0
    if v < 0:
        cand[q, 0] = 45
        m = 1
    for k in range(n - 1, lo - 1, -1):
        if m >= NUM_LEN - 1:
            clen[q] = 0
            return
        if k == scale - 1 and point and scale > 0:
            cand[q, m] = 46
            m += 1
        cand[q, m] = 48 + digits[k]
        m += 1
    if point and scale == 0 and m < NUM_LEN - 1:
        cand[q, m] = 46
        cand[q, m + 1] = 48
        m += 2
    clen[q] = m


@njit(cache=True, inline="always")
def _shape(H: np.ndarray, pos: int, rec_start: int, bclass: np.ndarray) -> int:
    """The X_SHAPE context before ``H[pos]``: the last SHAPE_RUNS runs of byte kinds since ``rec_start`` (fewer, and a
    mark, where the record starts before them), SHAPE_BACK bytes back at most. A run of letters, digits, spaces or line
    breaks is its kind x its length bucket (1, 2, 3-5, 6 or more); one of quotes, brackets or other bytes is its last
    byte (the nearest) x that bucket, as ``:`` or ``=`` or ``,`` say more than their kind."""
    h = 0x5E4A9E
    sh = 0
    j = 0
    nr = 0
    while nr < SHAPE_RUNS and j < SHAPE_BACK:
        if pos - 1 - j < rec_start:
            sh = sh * 1100 + 1099  # the record's start
            break
        b = int(H[pos - 1 - j])
        kd = bclass[b]
        rl = 1
        while j + rl < SHAPE_BACK and pos - 1 - j - rl >= rec_start and bclass[int(H[pos - 1 - j - rl])] == kd:
            rl += 1
        j += rl
        rb = 0 if rl == 1 else (1 if rl == 2 else (2 if rl < 6 else 3))
        sh = sh * 1100 + (kd * 4 + rb if kd < 5 else 32 + b * 4 + rb)
        nr += 1
        if nr % 3 == 0:  # three runs a hash step (1100^3 stays far inside int64)
            h = _hash(h, sh)
            sh = 0
    return _hash(h, sh)


@njit(cache=True, inline="always")
def _runs_sel(rk0: int, rn0: int, rk1: int, rn1: int) -> int:
    """X_MIX5's selector of mixer 4 and the final mixer (0..KINDS-1), from the runs of byte kinds before the byte: the
    last run's kind ``rk0`` x its length bucket (1, 2, 3-5, 6 or more), the kind of the run before it ``rk1`` and
    whether that one was longer than a byte. ``rk0`` < 0: the record's start; ``rk1`` < 0: the record started with the
    last run (it stands as its own kind, which never precedes itself)."""
    if rk0 < 0:
        return (4 * 4 + 3) * 16 + 4 * 2
    rb = 0 if rn0 == 1 else (1 if rn0 == 2 else (2 if rn0 < 6 else 3))
    if rk1 < 0:
        return (rk0 * 4 + rb) * 16 + rk0 * 2
    return (rk0 * 4 + rb) * 16 + rk1 * 2 + (1 if rn1 > 1 else 0)


@njit(cache=True, inline="always")
def _cmap_count(n: int, run: int) -> int:
    """Format 22: a counter's count bucket in its context's map: seen 1, 2, 3, 4-5, 6-8, 9-15, 16-40, 41+ times (0-7);
    a byte seen once or a run (``run``: its length, -1: an ordinary counter) 8-11 by the run's length."""
    if run >= 0:
        return 8 + (0 if run < 2 else (1 if run < 4 else (2 if run < 8 else 3)))
    if n <= 3:
        return max(n, 1) - 1
    if n <= 8:
        return 3 if n <= 5 else 4
    return 5 if n <= 15 else (6 if n <= 40 else 7)


@njit(cache=True, inline="always")
def _apm2_row(o_apm2: int, c1: int, c0: int) -> int:
    return o_apm2 + ((c1 << 8) | c0) * APM_BUCKETS


@njit(cache=True, inline="always")
def _apm3_row(o_apm3: int, c4: int, c0: int) -> int:
    """The third APM stage's row: ``c4`` is the last two bytes (the last three with X_FINAL2: the caller masks)."""
    return o_apm3 + (_hash(c4, c0) & 0xFFFF) * APM_BUCKETS


@njit(cache=True, inline="always")
def _next_bit(
    T: np.ndarray, ctx: np.ndarray, hnext: np.ndarray, c0: int, gbase: np.ndarray, bits: int, ways: int,
    o_apm2: int, c1: int, o_apm3: int, c4: int,
) -> None:  # fmt: skip
    """Once the partial byte ``c0`` of the next bit is known: hash its contexts into ``hnext`` and start
    the cache misses of their groups and of its APM rows (``o_apm3`` < 0: no third APM stage)."""
    for k in range(ctx.shape[0]):
        hnext[k] = _hash(ctx[k], c0)
        _prefetch(T, _group(gbase, k, bits, hnext[k], ways))
    a2 = _apm2_row(o_apm2, c1, c0)
    _prefetch(T, a2)
    _prefetch(T, a2 + APM_BUCKETS - 1)
    if o_apm3 >= 0:
        a3 = _apm3_row(o_apm3, c4, c0)
        _prefetch(T, a3)
        _prefetch(T, a3 + APM_BUCKETS - 1)


@njit(cache=True, inline="always")
def _code(
    mode: int, y: int, p: int, x1: int, x2: int, xx: int, inpos: int, outpos: int, data: np.ndarray, out: np.ndarray, limit_in: int
) -> tuple[int, int, int, int, int, int, int]:
    """One binary decision through the arithmetic coder: encode ``y``, or decode it, with P(1) = p / 4096.
    Returns (y, x1, x2, xx, inpos, outpos, code): code -1 when the output is full, -3 when decoding reads
    past ``limit_in`` (garbage), else 0."""
    xmid = x1 + ((x2 - x1) >> 12) * p
    if mode == DECODE:
        y = 1 if xx <= xmid else 0
    if y:
        x2 = xmid
    else:
        x1 = xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        if mode == ENCODE:
            if outpos >= out.shape[0]:
                return y, x1, x2, xx, inpos, outpos, -1
            out[outpos] = x2 >> 24
            outpos += 1
        else:
            byte = 255
            if inpos < data.shape[0]:
                byte = int(data[inpos])
            inpos += 1
            if inpos > limit_in:  # past the padding a valid stream can need
                return y, x1, x2, xx, inpos, outpos, -3
            xx = ((xx << 8) & M32) | byte
        x1 = (x1 << 8) & M32
        x2 = ((x2 << 8) & M32) | 255
    return y, x1, x2, xx, inpos, outpos, 0


@njit(cache=True, inline="always")
def _stop(jidx: np.ndarray, jcap: int, jn: int, wj: np.ndarray, wn: int, code: int) -> int:
    """Record how many counter writes (``jn``) and weight sets (``wn``) the journal holds, so that they are
    undone -- on every return, early ones included (before commit 6a80906 the early ones left a record's
    writes in the shared state) -- and return ``code``."""
    jidx[jcap] = jn
    wj[wj.shape[0] - 1] = wn
    return code


@njit(cache=True, nogil=True)  # releases the GIL: a server's threads code records in parallel
def process(
    mode: int,
    cfg: np.ndarray,
    T: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    hist_start: int,
    data: np.ndarray,
    n_bytes: int,
    out: np.ndarray,
    jidx: np.ndarray,
    jold: np.ndarray,
    wflag: np.ndarray,
    wj: np.ndarray,
    wold: np.ndarray,
    P: np.ndarray,
    B1: np.ndarray,
    WO: np.ndarray,
    BO: np.ndarray,
    trace: np.ndarray,
) -> int:
    """Prime on ``data``, encode ``data`` into ``out``, or decode ``data`` (coded) into ``out``.

    Returns bytes written (encode) or decoded (decode); the journal length is kept in jidx[-1].
    ``mode | ENDS`` (format 9): after each byte, code whether the record ends there; decoding then
    stops at the end (``n_bytes`` is only the most it may decode: -4 if no end came within it, -3 if
    the stream ran out first). -1: encoded output would not fit ``out``; -2: journal full; -5: the
    model has no end counters.
    While a record is coded, the mixers learn in ``W`` itself: the first time a weight set is about to
    change, it is saved (``wflag[set]``, its offset and size in ``wj``, its weights in ``wold``; the count
    in wj[-1]), and ``undo_weights`` puts every saved set back -- no copy of all of ``W`` per record.
    ``trace`` (shape [n_bytes * 8, 2], or [0, 2] for none) receives each bit's final probability
    and neural stretch value: the tables that encoder and decoder must agree on.
    The history ``H`` holds the reference in [0, hist_start); this record goes after it.
    """
    squash = SQUASH
    stretch = STRETCH
    rates = RATES
    ends = (mode & ENDS) != 0
    mode = mode & 3
    nord = cfg[C_NORD]
    bits = cfg[C_BITS]
    limit = cfg[C_LIMIT]
    lr = cfg[C_LR] & 255
    min1 = cfg[C_MIN1]
    min2 = cfg[C_MIN2]
    mbits = cfg[C_MBITS]
    use_nn = cfg[C_USE_NN]
    nn_only = cfg[C_NN_ONLY]
    nctx = cfg[C_NN_CTX]
    nh = cfg[C_NN_H]
    m1 = cfg[C_NN_M1]
    s1 = cfg[C_NN_S1]
    m2 = cfg[C_NN_M2]
    xctx = cfg[C_XCTX]
    ways = max(1, cfg[C_WAYS])
    x_json = (xctx & X_JSON) != 0
    x_word = (xctx & X_WORD) != 0
    x_mix3 = (xctx & X_MIX3) != 0
    x_ind = (xctx & X_IND) != 0
    x_match = (xctx & X_MATCH) != 0
    x_apm3 = (xctx & X_APM3) != 0
    x_ind3 = (xctx & X_IND3) != 0
    x_word3 = (xctx & X_WORD3) != 0
    x_wide = (xctx & X_WIDE) != 0
    x_recw = (xctx & X_RECW) != 0
    x_rec3 = (xctx & X_REC3) != 0
    x_end = (xctx & X_END) != 0
    x_post = (xctx & X_POST) != 0
    x_post_learn = x_post and (xctx & X_POST_LEARN) != 0 and mode != PRIME
    post_rate = (cfg[C_LR] >> 24) & 255
    x_line = (xctx & X_LINE) != 0
    x_paren = (xctx & X_PAREN) != 0
    x_num = (xctx & X_NUM) != 0
    x_once = (xctx & X_ONCE) != 0
    x_run = x_once and (xctx & X_RUN) != 0
    x_late = x_post and (xctx & X_LATE) != 0
    x_ordsel = x_wide and (xctx & X_ORDSEL) != 0
    x_mix4 = x_mix3 and (xctx & X_MIX4) != 0
    x_mix5 = x_mix4 and (xctx & X_MIX5) != 0
    x_final2 = x_mix5 and (xctx & X_FINAL2) != 0
    a3mask = 0xFFFFFF if x_final2 else 0xFFFF  # format 21: the third APM stage by the last three bytes
    x_shape = (xctx & X_SHAPE) != 0
    x_cmap = (xctx & X_CMAP) != 0
    nrec = int(x_recw) + int(x_rec3)
    # region offsets (must match ``layout``)
    o_o1 = 256
    o_hash = 256 + 65536
    nhashed = nord + 2 + int(x_json) + int(x_word) + 2 * int(x_ind) + int(x_match) + int(x_ind3) + int(x_word3)
    nhashed += int(x_line) + int(x_paren) + int(x_num) + int(x_shape) + nrec
    o_sm = o_hash + ((nhashed - nrec) << bits)
    o_mt1 = o_sm + 256
    o_mt2 = o_mt1 + (1 << mbits)
    o_apm1 = o_mt2 + (1 << mbits)
    o_apm2 = o_apm1 + 256 * 24
    o_ind = o_apm2 + 65536 * 24
    o_ind3 = o_ind + ((256 + 65536) if x_ind else 0)
    o_apm3 = o_ind3 + (65536 if x_ind3 else 0)
    o_rec = o_apm3 + ((65536 * APM_BUCKETS) if x_apm3 else 0)
    o_end = o_rec + (nrec << min(bits, REC_BITS))
    o_cmap = o_end + (END_SLOTS if x_end else 0)  # format 22: the extra contexts' maps, from the first extra on
    if ends and not x_end:
        return -5  # this model cannot code where a record ends (before format 9)
    # a valid stream is decoded before the decoder reads past this (``ENDS``; without, the length bounds it)
    limit_in = data.shape[0] + 3 if ends else 1 << 62
    done = n_bytes
    # where each hashed context's region starts; the last element: how many are the record's own
    gbase = np.zeros(nhashed + 1, dtype=np.int64)
    for k in range(nhashed - nrec):
        gbase[k] = o_hash + (k << bits)
    for k in range(nrec):
        gbase[nhashed - nrec + k] = o_rec + (k << min(bits, REC_BITS))
    gbase[nhashed] = nrec
    a3i = 0
    mmask = (1 << mbits) - 1
    ninputs = 2 * nhashed + 6
    m1sets = ((WIDE_SETS1 * (ORDSEL_SETS1 if x_ordsel else 1)) << nrec) if x_wide else MIXER_SETS
    w2base = m1sets * ninputs
    m2sets = WIDE_SETS if x_wide else MIXER2_SETS
    m3sets = WIDE_SETS if x_wide else MIXER3_SETS
    w3base = w2base + m2sets * ninputs
    w4base = w3base + m3sets * ninputs
    m4sets = MIXER4_SETS if x_mix4 else 0
    w5base = w4base + m4sets * ninputs
    m5sets = (MIXER5_SETS + (MIXER5_WORD_SETS if x_final2 else 0)) if x_mix5 else 0
    wfbase = w5base + m5sets * ninputs
    fw = (5 if x_mix5 else 4) if x_mix4 else 3  # the final mixer's weights per set (``final_weights``)
    w4 = m1sets + m2sets + m3sets  # mixer 4's first set (in ``wflag``)
    fset = w4 + m4sets + m5sets  # the final mixer's first set (in ``wflag``)
    # the post mixer (format 12): its weights follow the final mixer's (the second mixer's in format 1)
    fsets1 = FINAL_SETS * (KINDS if x_mix4 else 1)  # format 18: by the kinds of the last three bytes too
    fsets = fsets1 + (FINAL2_SETS if x_final2 else 0)  # format 21: the second final mixer's sets follow the first's
    wf2base = wfbase + fsets1 * fw
    wpbase = (wfbase + fsets * fw) if x_mix3 else w3base
    bclass = BYTE_CLASS
    kinds = 0  # format 18: the kinds of the last three bytes (mixer 4's selector)
    set4 = 0
    sel4 = 0
    dot4 = 0
    pm4 = 2048
    # format 20: the runs of byte kinds before the byte (the last and the one before it: kind, length; -1: none yet),
    # the kind of the line's first byte (4, a line break's: none yet), mixer 5's set for this byte (x 256) and per bit
    rk0, rn0, rk1, rn1 = -1, 0, -1, 0
    fl_kind = 4
    s5byte = 0
    set5 = 0
    sel5 = 0
    dot5 = 0
    pm5 = 2048
    pmf1 = 2048  # format 21: each final mixer's own output, its set, its weights
    pmf2 = 2048
    dotf2 = 0
    fsel2 = 0
    wf2 = 0
    fsel = 0  # the final mixer's set
    wp = 0
    sp = 0
    pp = 2048
    set1 = 0  # this bit's weight set in mixers 1, 2 and 3
    set2 = 0
    set3 = 0
    dot3 = 0
    pm3 = 2048
    sel3 = 0
    wf = 0
    journal = mode != PRIME
    if journal and (cfg[C_LR] >> 8) & 255:  # format 5: the mixers learn faster while a record is coded
        lr = (cfg[C_LR] >> 8) & 255
    freeze = (cfg[C_LR] >> 16) & 255  # format 8: a record leaves the shared counters seen this often alone
    trust = ((cfg[C_LR] >> TRUST_SHIFT) & 15) if mode != PRIME else 0  # format 16: the match models' trust, in eighths
    frozen = (nhashed - nrec) if (journal and freeze > 0) else 0  # the shared hashed contexts are the first ones
    lin_seen = LIN_SEEN if freeze > 0 else 256  # format 8 (256: every counter, as before)
    jn = 0
    jcap = jidx.shape[0] - 1
    wn = 0  # weight sets saved so far (``wj``)

    # coder state
    x1 = 0
    x2 = M32
    xx = 0
    inpos = 0
    outpos = 0
    if mode == DECODE:
        for _ in range(4):
            byte = 255
            if inpos < data.shape[0]:
                byte = int(data[inpos])
            inpos += 1
            xx = (xx << 8) | byte

    ctx = np.zeros(nhashed, dtype=np.int64)
    idx = np.zeros(nhashed, dtype=np.int64)
    chk = np.zeros(nhashed, dtype=np.int64)
    hnext = np.zeros(nhashed, dtype=np.int64)
    # format 13: per hashed context, this byte: -1 an ordinary counter, 0..255 the byte its one sighting recorded,
    # 256 not seen (its first-bit slot and check, ``slot0`` and ``chk0``, then record this byte when it is known)
    once = np.full(nhashed, -1, dtype=np.int64)
    slot0 = np.zeros(nhashed, dtype=np.int64)
    xchk0 = np.zeros(nhashed, dtype=np.int64)
    chk0 = np.zeros(nhashed, dtype=np.int64)
    vsyn = np.full(nhashed, -1, dtype=np.int64)  # the counter a recorded byte stands for this bit (-1: none)
    cmi = np.full(nhashed, -1, dtype=np.int64)  # format 22: the map bucket each extra context read this bit (-1: none)
    v1 = np.zeros(2, dtype=np.int64)  # a counter seen once, after a 0 and after a 1
    for yy in range(2):
        v1[yy] = _counter_update(32768 << 16, yy, limit, rates)
    runr = np.zeros(nhashed, dtype=np.int64)
    idxs = np.zeros((nhashed, 8), dtype=np.int64)
    chks = np.zeros((nhashed, 8), dtype=np.int64)
    vr = np.zeros((256, 2), dtype=np.int64)
    if x_run:
        for yy in range(2):
            vv = 32768 << 16
            for r in range(1, 256):
                vv = _counter_update(vv, yy, limit, rates)
                vr[r, yy] = vv
            for _ in range(4096):  # a run at the count's limit stands for a counter that kept learning: as far as it goes
                vv = _counter_update(vv, yy, limit, rates)
            vr[min(limit, 255), yy] = vv
    xin = np.zeros(ninputs, dtype=XIN)
    hid = np.zeros(max(nh, 1), dtype=np.int64)
    hid32 = np.zeros(max(nh, 1), dtype=np.int32)  # the first layer's sums, for an int16 table
    Pf = P.reshape(P.size)  # the same table, flat: for the cache hints below
    prow = (nctx - 1 + 7) // 8  # next byte's first-layer rows hinted per bit
    pos = hist_start
    # recover byte context from history (the reference ends with a record separator)
    c4 = 0
    for k in range(4):
        if pos - 1 - k >= 0:
            c4 |= int(H[pos - 1 - k]) << (8 * k)
    word = 0
    prev_word = 0
    prev_word2 = 0
    col = 0
    line_start = pos
    prev_line_start = pos
    # the line's layout (format 10): its indentation so far, still in it?, its first token (bit 31: complete),
    # and the previous line's indentation and first token
    indent, lead, ftok, pindent, pftok = 0, 1, 0, 0, 0
    # the open brackets (format 10): how many, and the kinds of the last ones opened (2 bits each)
    pdepth, pstack = 0, 0
    mptr1 = 0
    mlen1 = 0
    mptr2 = 0
    mlen2 = 0
    rec_start = pos  # the neural context is this record's bytes only (zero padded)
    # JSON structure: inside a string?, escape pending, hash of the string so far, of the last string,
    # the key the current value belongs to, bytes into the value, nesting depth
    in_str, esc, shash, last_str, jkey, vlen, depth = 0, 0, 0, 0, 0, 0, 0
    # numbers (format 11): the one being read (digits as an integer, digits after its point: -1 before one, sign,
    # bytes so far, whether it is still a number), the last two read (value, scale, had a point), and three candidates
    # for the next one written out, with how far the current number has matched each (-1: it failed)
    nv, nd, nneg, nlen, innum = 0, -1, 0, 0, 0
    av1, as1, ap1, av2, as2, ap2, nnum = 0, 0, 0, 0, 0, 0, 0
    ncand = np.zeros((NUM_CAND, NUM_LEN), dtype=np.int64)
    clen = np.zeros(NUM_CAND, dtype=np.int64)
    cpos = np.zeros(NUM_CAND, dtype=np.int64)

    recno = 1 if mode == PRIME else 0  # the record's own contexts (format 7): reference records count from 1
    for i in range(n_bytes):
        # ---------------- byte-boundary work ----------------
        c1 = c4 & 255
        if x_mix5:  # format 20: by the runs before the byte; mixer 5 by the JSON value's place, or the line's layout
            kinds = _runs_sel(rk0, rn0, rk1, rn1)
            if depth > 0:
                s5byte = ((in_str * 4 + min(depth, 3)) * 64 + (jkey & 63)) * 256
            elif x_final2 and word != 0:  # format 21: inside a word, by the word so far
                s5byte = (1024 + (word & 511)) * 256
            else:
                cb = col if col < 4 else (4 if col < 8 else (5 if col < 16 else (6 if col < 32 else 7)))
                s5byte = (512 + (cb * 8 + bclass[c1]) * 8 + fl_kind) * 256
        elif x_mix4:
            kinds = bclass[c1] | (bclass[(c4 >> 8) & 255] << 3) | (bclass[(c4 >> 16) & 255] << 6)
        for k in range(nord):
            order = cfg[C_ORDERS + k]
            h = order * 0x3C6EF372
            for j in range(order):
                b = 0
                if pos - 1 - j >= rec_start:
                    b = int(H[pos - 1 - j])
                h = _hash(h, b + 256 * j)
            ctx[k] = h
        ctx[nord] = _hash(word + 0x51ED27, prev_word)
        above = 0
        if prev_line_start + col < line_start:
            above = int(H[prev_line_start + col])
        ctx[nord + 1] = _hash(0x2A7C5 + above * 256 + c1, min(col, 80))
        kx = nord + 2
        if x_json:
            ctx[kx] = _hash(0x4A53 + jkey, (min(vlen, 15) << 12) | (in_str << 11) | (min(depth, 7) << 8) | c1)
            kx += 1
        if x_word:
            ctx[kx] = _hash(0x3D1 + word, prev_word if word == 0 else 0)
            kx += 1
        if x_ind:
            ctx[kx] = _hash(0x1D1 + c1, int(T[o_ind + c1]))
            ctx[kx + 1] = _hash(0x1D2 + (c4 & 0xFFFF), int(T[o_ind + 256 + (c4 & 0xFFFF)]))
            kx += 2
        if x_match:  # the byte the longest match predicts (256: none), its length bucket, the previous byte
            meb = 256
            mln = 0
            if mlen2 > 0:
                meb = int(H[mptr2])
                mln = mlen2
            elif mlen1 > 0:
                meb = int(H[mptr1])
                mln = mlen1
            lq = 0
            if mln > 0:
                lq = 1 if mln < 8 else (2 if mln < 12 else (3 if mln < 16 else (4 if mln < 24 else (5 if mln < 32 else 6))))
            ctx[kx] = _hash(0x6D7 + meb, lq * 256 + c1)
            kx += 1
        if x_ind3:
            c3 = c4 & 0xFFFFFF
            ctx[kx] = _hash(0x1D4 + c3, int(T[o_ind3 + (_hash(0x1D3, c3) & 0xFFFF)]))
            kx += 1
        if x_word3:
            ctx[kx] = _hash(_hash(word + 0x7A3, prev_word), prev_word2)
            kx += 1
        if x_line:  # format 10: the line's layout
            if lead:
                ctx[kx] = _hash(0xA1E0 + pftok, (min(indent, 63) << 6) | min(pindent, 63))
            else:
                ctx[kx] = _hash(0xA2E0 + ftok, (min(indent, 63) << 16) | (c4 & 0xFFFF))
            kx += 1
        if x_paren:  # format 10: the open brackets
            ctx[kx] = _hash(0xB1E0 + min(pdepth, 15) * 256 + (pstack & 255), c1)
            kx += 1
        if x_num:  # format 11: what the candidates predict next
            e = 0
            for q in range(NUM_CAND):
                eq = 256
                if clen[q] > 0 and cpos[q] >= 0:
                    eq = int(ncand[q, cpos[q]]) if cpos[q] < clen[q] else 257
                e = (e << 9) | eq
            ctx[kx] = _hash(0xC1E0 + jkey, (e << 2) | (in_str << 1) | int(vlen == 0))
            kx += 1
        if x_shape:  # format 19: the record's last runs of byte kinds
            ctx[kx] = _shape(H, pos, rec_start, bclass)
            kx += 1
        if x_recw:  # format 7: the record's own word (between words: the previous word and byte)
            ctx[kx] = _hash(0x5A1 + recno, word) if word != 0 else _hash(0x5A2 + recno, _hash(prev_word, c1))
            kx += 1
        if x_rec3:  # format 7: the record's own last three bytes
            ctx[kx] = _hash(0x5A3 + recno, c4 & 0xFFFFFF)
            kx += 1
        _next_bit(T, ctx, hnext, 1, gbase, bits, ways, o_apm2, c1, o_apm3 if x_apm3 else -1, c4 & a3mask)  # start the misses now
        if use_nn:
            if P.itemsize == 2:  # an int16 table (``NeuralWeights``): its rows and B1 sum exactly in int32
                for j in range(nh):
                    hid32[j] = B1[j]
                for t in range(nctx):
                    b = 0
                    if pos - 1 - t >= rec_start:
                        b = int(H[pos - 1 - t])
                    for j in range(nh):
                        hid32[j] += P[t, b, j]
                for j in range(nh):
                    hid[j] = hid32[j]
            else:
                for j in range(nh):
                    hid[j] = B1[j]
                for t in range(nctx):
                    b = 0
                    if pos - 1 - t >= rec_start:
                        b = int(H[pos - 1 - t])
                    for j in range(nh):
                        hid[j] += P[t, b, j]
            for j in range(nh):
                v = (hid[j] * m1) >> s1
                if v < 0:
                    v = 0
                elif v > 127:
                    v = 127
                hid[j] = v
        mb = 0
        if mlen1 > 0:
            mb = 1 + min(mlen1, 32) // 16
        if mlen2 > 0:
            mb = 3

        c0 = 1
        byte_val = 0
        if mode == PRIME or mode == ENCODE:
            byte_val = int(data[i])
        for bitpos in range(8):
            if use_nn:
                # the next byte's first layer reads row (t, byte at pos - t) for t = 0..nctx-1; all but t = 0 are
                # known now, so their cache lines are asked for while this byte's bits are coded (a hint only)
                for t in range(1 + bitpos * prow, min(nctx, 1 + (bitpos + 1) * prow)):
                    b = 0
                    if pos - t >= rec_start:
                        b = int(H[pos - t])
                    r0 = (t * 256 + b) * nh
                    for j in range(0, nh, 64 // P.itemsize):  # one hint per 64-byte line
                        _prefetch(Pf, r0 + j)
            # ---------------- predict ----------------
            xin[0] = 0
            v = int(T[c0])
            xin[0] = stretch[_counter_p(v) >> 4]
            v = int(T[o_o1 + (c1 << 8) + c0])
            xin[1] = stretch[_counter_p(v) >> 4] if ((v >> 8) & 255) else 0
            nseen = 0
            hiord = 0  # format 17: the highest order seen (1 + its index; 0: none), and what its counter is
            hdet = 0
            hb = 0
            rseen = 0  # which of the record's own contexts (format 7) were seen: bit 0 the first
            base = 2 + nhashed
            for k in range(nhashed):
                hh = hnext[k]  # _hash(ctx[k], c0), computed when the previous bit was known
                chk[k] = (hh >> 24) & 255
                vsyn[k] = -1
                cmi[k] = -1
                if x_once and bitpos > 0 and once[k] == 256:  # format 13: a context first seen this byte takes no slot
                    idx[k] = -1
                    xin[2 + k] = 0
                    xin[base + 4 + k] = 0
                    continue
                slot = _slot(T, _group(gbase, k, bits, hh, ways), ways, chk[k])
                idx[k] = slot
                v = int(T[slot])
                if x_once:  # format 13
                    if bitpos == 0:
                        slot0[k] = slot
                        chk0[k] = chk[k]
                        xchk0[k] = (hh >> 17) & 127
                        if (v & 255) == chk[k] and ((v >> 8) & 255) > 0:
                            if x_run:  # a run's slot also holds 7 more bits of its hash: a stray match would cost a byte
                                once[k] = ((v >> 17) & 255) if ((v >> 16) & 1 and (v >> 25) == ((hh >> 17) & 127)) else -1
                                if (v >> 16) & 1 and (v >> 25) != ((hh >> 17) & 127):
                                    once[k] = 256
                                runr[k] = (v >> 8) & 255
                            else:
                                once[k] = ((v >> 16) & 255) if ((v >> 8) & 255) == 1 else -1
                        else:
                            once[k] = 256
                    if x_run:
                        idxs[k, bitpos] = slot
                        chks[k, bitpos] = chk[k]
                    if once[k] >= 0 and once[k] < 256 and ((once[k] + 256) >> (8 - bitpos)) == c0:
                        if x_run:
                            vsyn[k] = vr[runr[k], (once[k] >> (7 - bitpos)) & 1] | chk[k]
                        else:
                            vsyn[k] = v1[(once[k] >> (7 - bitpos)) & 1] | chk[k]  # as a counter seen once would say
                        v = vsyn[k]
                    elif once[k] == 256:
                        v = 0  # new (or a run's slot whose longer check does not match)
                if (v & 255) == chk[k] and ((v >> 8) & 255) > 0:
                    p12 = _counter_p(v) >> 4
                    xin[2 + k] = stretch[p12]
                    if x_cmap and k >= nord + 2:  # format 22: an extra context says what its map makes of the counter
                        sqk = (stretch[p12] + 2048) * 23
                        wk = sqk & 0xFFF
                        ck = o_cmap + ((k - nord - 2) * CMAP_COUNTS + _cmap_count((v >> 8) & 255, runr[k] if vsyn[k] >= 0 else -1)) * 24
                        ck += sqk >> 12
                        pk = (int(T[ck]) * (0x1000 - wk) + int(T[ck + 1]) * wk) >> 16
                        xin[2 + k] = stretch[min(max(pk, 1), 4095)]
                        cmi[k] = ck + (wk >> 11)  # the nearer bucket learns
                    # the linear input: format 8 gives it only for counters seen fewer than LIN_SEEN times
                    xin[base + 4 + k] = ((p12 - 2048) >> 1) if ((v >> 8) & 255) < lin_seen else 0
                    nseen += 1
                    if x_ordsel and k < nord:
                        hiord = k + 1
                        if vsyn[k] >= 0:  # a run's slot (or a byte seen once), by the run's length
                            rn = runr[k]
                            hdet = 4 + (0 if rn < 2 else (1 if rn < 4 else (2 if rn < 8 else 3)))
                        else:
                            ncnt = (v >> 8) & 255
                            hdet = 0 if ncnt < 2 else (1 if ncnt < 8 else (2 if 256 <= p12 <= 3840 else 3))
                    if k >= nhashed - nrec:
                        rseen |= 1 << (k - nhashed + nrec)
                else:
                    xin[2 + k] = 0
                    xin[base + 4 + k] = 0
            # match models
            e1 = -1
            if mlen1 > 0:
                eb = int(H[mptr1])
                if ((eb + 256) >> (8 - bitpos)) == c0:
                    e1 = (eb >> (7 - bitpos)) & 1
                    v = int(T[o_sm + min(mlen1, 63) * 2 + e1])
                    xin[base] = stretch[_counter_p(v) >> 4]
                else:
                    mlen1 = 0
            if e1 < 0:
                xin[base] = 0
            e2 = -1
            if mlen2 > 0:
                eb = int(H[mptr2])
                if ((eb + 256) >> (8 - bitpos)) == c0:
                    e2 = (eb >> (7 - bitpos)) & 1
                    v = int(T[o_sm + 128 + min(mlen2, 63) * 2 + e2])
                    xin[base + 1] = stretch[_counter_p(v) >> 4]
                else:
                    mlen2 = 0
            if e2 < 0:
                xin[base + 1] = 0
            # neural
            nn_st = 0
            if use_nn:
                acc = BO[c0]
                for j in range(nh):
                    acc += WO[c0, j] * hid[j]
                nn_st = (acc * m2) >> 16
                if nn_st > 2047:
                    nn_st = 2047
                elif nn_st < -2047:
                    nn_st = -2047
            xin[base + 2] = 0 if x_late else nn_st  # format 15: the predictor speaks in the post mixer only
            if trust:  # format 16: a record of a new document trusts a match less than priming did
                xin[base] = (xin[base] * trust) >> 3
                xin[base + 1] = (xin[base + 1] * trust) >> 3
            xin[base + 3] = 256
            # mixer
            if x_wide:  # format 6: also by how many hashed contexts were seen before (4 buckets); format 7:
                # and by which of the record's own contexts were (nrec = 0 before it)
                if x_ordsel:  # format 17: by the highest order seen and its counter, not by how many were seen
                    hb = 0 if hiord <= 2 else (1 if hiord <= 4 else (2 if hiord <= 6 else 3))
                    set1 = ((((((mb << 2) + hb) << 3) + hdet) << nrec) + rseen) * 256 + c0
                else:
                    set1 = ((((mb << 2) + (min(nseen, 15) >> 2)) << nrec) + rseen) * 256 + c0
            else:
                set1 = mb * 256 + c0
            sel = set1 * ninputs
            if x_wide:  # format 6: by the byte before the previous
                if x_ordsel:  # format 17: ... and the top 3 bits of the byte before the previous
                    c2sel = bclass[(c4 >> 8) & 255] if x_mix5 else ((c4 >> 8) & 255) >> 5  # format 20: its kind
                    set2 = ((((hb << 3) | hdet) << 3) | c2sel) * 256 + c0
                else:
                    set2 = ((c4 >> 8) & 255) * 256 + c0
            else:
                set2 = min(nseen, 15) * 256 + c0
            sel2 = w2base + set2 * ninputs
            dot = 0
            dot2 = 0
            # unsigned indices into W (``_u``): numba wraps a negative signed index around, which made these
            # loops gather element by element; an unsigned one it takes as it is, so they load whole vectors
            for k in range(ninputs):
                dot += xin[k] * W[_u(sel + k)]
                dot2 += xin[k] * W[_u(sel2 + k)]
            dot >>= 16
            dot2 >>= 16
            if x_mix3:
                set3 = c0 * 256 + c1 if x_wide else bitpos * 256 + c1  # format 6: by c0, not only the bit position
                sel3 = w3base + set3 * ninputs
                dot3 = _mix(xin, W, sel3)
                pm3 = squash[dot3 + 2048]
            if x_mix4:  # format 18: by the kinds of the last three bytes
                set4 = kinds * 256 + c0
                sel4 = w4base + set4 * ninputs
                dot4 = _mix(xin, W, sel4)
                pm4 = squash[dot4 + 2048]
            if x_mix5:  # format 20: by the JSON value's place, or the line's layout
                set5 = s5byte + c0
                sel5 = w5base + set5 * ninputs
                dot5 = _mix(xin, W, sel5)
                pm5 = squash[dot5 + 2048]
            if dot > 2047:
                dot = 2047
            elif dot < -2047:
                dot = -2047
            if dot2 > 2047:
                dot2 = 2047
            elif dot2 < -2047:
                dot2 = -2047
            pm1 = squash[dot + 2048]
            pm2 = squash[dot2 + 2048]
            if x_mix3:
                fsel = kinds * FINAL_SETS + mb * 8 + bitpos  # (kinds: 0 before format 18)
                wf = wfbase + fsel * fw
                dotf = dot * W[wf] + dot2 * W[wf + 1] + dot3 * W[wf + 2]
                if x_mix4:
                    dotf += dot4 * W[wf + 3]
                if x_mix5:
                    dotf += dot5 * W[wf + 4]
                dotf >>= 16
                if dotf > 2047:
                    dotf = 2047
                elif dotf < -2047:
                    dotf = -2047
                pm = squash[dotf + 2048]
                pmf1 = pm
                if x_final2:  # format 21: a second final mixer by mixer 5's selector, the two averaged (stretch)
                    fsel2 = (s5byte >> 8) * 8 + bitpos
                    wf2 = wf2base + fsel2 * fw
                    dotf2 = (dot * W[wf2] + dot2 * W[wf2 + 1] + dot3 * W[wf2 + 2] + dot4 * W[wf2 + 3] + dot5 * W[wf2 + 4]) >> 16
                    if dotf2 > 2047:
                        dotf2 = 2047
                    elif dotf2 < -2047:
                        dotf2 = -2047
                    pmf2 = squash[dotf2 + 2048]
                    pm = squash[((dotf + dotf2) >> 1) + 2048]
            else:
                pm = squash[((dot + dot2) >> 1) + 2048]
            # APM stages (interpolated, 24 buckets over the stretched probability)
            sq = (stretch[pm] + 2048) * 23
            wt = sq & 0xFFF
            a1i = o_apm1 + c0 * 24 + (sq >> 12)
            pa1 = (int(T[a1i]) * (0x1000 - wt) + int(T[a1i + 1]) * wt) >> 16
            a2i = _apm2_row(o_apm2, c1, c0) + (sq >> 12)
            pa2 = (int(T[a2i]) * (0x1000 - wt) + int(T[a2i + 1]) * wt) >> 16
            if x_apm3:  # a third stage over the previous two bytes (hashed) x c0 takes the mixer's second share
                a3i = _apm3_row(o_apm3, c4 & a3mask, c0) + (sq >> 12)
                pa3 = (int(T[a3i]) * (0x1000 - wt) + int(T[a3i + 1]) * wt) >> 16
                if x_mix5:  # format 20: the stages weigh more, the later ones most
                    p = (pm * 2 + pa1 * 2 + pa2 * 5 + pa3 * 7 + 8) >> 4
                else:
                    p = (pm + pa1 + pa2 + pa3 + 2) >> 2
            else:
                p = (pm * 2 + pa1 + pa2 + 2) >> 2
            if x_post:  # format 12: the predictor once more, after the APM stages
                wp = wpbase + (mb * 8 + bitpos) * 3
                sp = stretch[min(max(p, 1), 4095)]
                if W[wp] != 65536 or W[wp + 1] != 0 or W[wp + 2] != 0 or x_post_learn:  # the identity leaves p as it is
                    dotp = (sp * W[wp] + nn_st * W[wp + 1] + 256 * W[wp + 2]) >> 16
                    if dotp > 2047:
                        dotp = 2047
                    elif dotp < -2047:
                        dotp = -2047
                    pp = squash[dotp + 2048]
                    p = pp
                else:
                    pp = p
            if nn_only:
                p = squash[nn_st + 2048]
            if p < 1:
                p = 1
            elif p > 4095:
                p = 4095
            if trace.shape[0] > 0:
                trace[i * 8 + bitpos, 0] = p
                trace[i * 8 + bitpos, 1] = nn_st
            # ---------------- code ----------------
            if mode == PRIME:
                y = (byte_val >> (7 - bitpos)) & 1
            else:
                y = (byte_val >> (7 - bitpos)) & 1 if mode == ENCODE else 0
                y, x1, x2, xx, inpos, outpos, code = _code(mode, y, p, x1, x2, xx, inpos, outpos, data, out, limit_in)
                if code < 0:  # -1: the output would not be smaller (the caller falls back); -3: garbage
                    return _stop(jidx, jcap, jn, wj, wn, code)  # (what was written so far is undone all the same)
            # ---------------- update ----------------
            if bitpos < 7:  # the next bit's groups, while this bit updates
                _next_bit(T, ctx, hnext, (c0 << 1) | y, gbase, bits, ways, o_apm2, c1, o_apm3 if x_apm3 else -1, c4 & a3mask)
            if journal and jn + (16 if x_run else 1) * nhashed + (nhashed if x_cmap else 0) + 8 > jcap:
                return _stop(jidx, jcap, jn, wj, wn, -2)
            if journal:  # save each weight set before its first change in this record (``undo_weights``)
                # written out here, not called: numba changes a passed array's reference count atomically,
                # twice per call, and that was a third of decode time (perf, financial)
                nsave = (((7 if x_final2 else 6) if x_mix5 else 5) if x_mix4 else 4) if x_mix3 else 2
                for m in range(nsave):  # (m 6: format 21's second final mixer)
                    which = (
                        set1,
                        m1sets + set2,
                        m1sets + m2sets + set3,
                        fset + fsel,
                        w4 + set4,
                        w4 + m4sets + set5,
                        fset + fsets1 + fsel2,
                    )[m]
                    if wflag[which]:
                        continue
                    start = (sel, sel2, sel3, wf, sel4, sel5, wf2)[m]
                    size = fw if m == 3 or m == 6 else ninputs
                    wflag[which] = 1
                    wj[2 * wn] = start
                    wj[2 * wn + 1] = size
                    for k in range(size):
                        wold[wn, k] = W[_u(start + k)]
                    wn += 1
            err = ((y << 12) - pm1) * lr
            err2 = ((y << 12) - pm2) * lr
            for k in range(ninputs):
                W[_u(sel + k)] += (xin[k] * err) >> 14
                W[_u(sel2 + k)] += (xin[k] * err2) >> 14
            if x_mix3:
                err3 = ((y << 12) - pm3) * lr
                for k in range(ninputs):
                    W[_u(sel3 + k)] += (xin[k] * err3) >> 14
                errf = ((y << 12) - pmf1) * 2  # (pm itself before format 21)
                if x_final2:
                    errf2 = ((y << 12) - pmf2) * 2
                    W[wf2] += (dot * errf2) >> 14
                    W[wf2 + 1] += (dot2 * errf2) >> 14
                    W[wf2 + 2] += (dot3 * errf2) >> 14
                    W[wf2 + 3] += (dot4 * errf2) >> 14
                    W[wf2 + 4] += (dot5 * errf2) >> 14
                W[wf] += (dot * errf) >> 14
                W[wf + 1] += (dot2 * errf) >> 14
                W[wf + 2] += (dot3 * errf) >> 14
                if x_mix4:
                    err4 = ((y << 12) - pm4) * lr
                    for k in range(ninputs):
                        W[_u(sel4 + k)] += (xin[k] * err4) >> 14
                    W[wf + 3] += (dot4 * errf) >> 14
                if x_mix5:
                    err5 = ((y << 12) - pm5) * lr
                    for k in range(ninputs):
                        W[_u(sel5 + k)] += (xin[k] * err5) >> 14
                    W[wf + 4] += (dot5 * errf) >> 14
            if x_post_learn:  # only ``CMState.learn_post`` trains it (on val records; not journaled: it keeps what it learned)
                # rounded, not floored: at these small rates a floored step is -1 for every small error of one sign and
                # 0 for the other, a drift that cost financial 0.7 % (thirty-eighth session). Only builds run this.
                errp = ((y << 12) - pp) * post_rate
                W[wp] += (sp * errp + 8192) >> 14
                W[wp + 1] += (nn_st * errp + 8192) >> 14
                W[wp + 2] += (256 * errp + 8192) >> 14
            # counters
            slot = c0
            if journal:
                jidx[jn] = slot
                jold[jn] = T[slot]
                jn += 1
            T[slot] = _counter_update(int(T[slot]), y, limit, rates)
            slot = o_o1 + (c1 << 8) + c0
            if journal:
                jidx[jn] = slot
                jold[jn] = T[slot]
                jn += 1
            T[slot] = _counter_update(int(T[slot]), y, limit, rates)
            for k in range(nhashed):
                slot = idx[k]
                if x_once:  # format 13
                    if slot < 0:
                        continue  # first seen this byte: no slot for this bit
                    if bitpos == 0 and once[k] == 256:  # its one slot: the byte is written in when it is known
                        if journal:
                            jidx[jn] = slot
                            jold[jn] = T[slot]
                            jn += 1
                        T[slot] = (((xchk0[k] << 9) | 1) << 16 if x_run else 0) | (1 << 8) | chk[k]
                        continue
                    if x_run and vsyn[k] >= 0:
                        b = once[k]
                        if ((b >> (7 - bitpos)) & 1) == y:
                            continue  # the run goes on: its count grows at the byte's end
                        # the byte parts from the run here: bits 0..bitpos become counters
                        once[k] = -1
                        if k < frozen and runr[k] >= freeze:
                            continue
                        for bi in range(bitpos + 1):
                            sl = idxs[k, bi]
                            yb = (b >> (7 - bi)) & 1 if bi < bitpos else y
                            wv = _counter_update(vr[runr[k], (b >> (7 - bi)) & 1] | chks[k, bi], yb, limit, rates)
                            if bi == 0:
                                wv &= ~0x10000
                            if journal:
                                jidx[jn] = sl
                                jold[jn] = T[sl]
                                jn += 1
                            T[sl] = wv
                        for bi in range(bitpos + 1, 8):  # and the recorded byte's later bits keep what the run saw
                            cb = (b + 256) >> (8 - bi)
                            hb = _hash(ctx[k], cb)
                            ck = (hb >> 24) & 255
                            sl = _slot(T, _group(gbase, k, bits, hb, ways), ways, ck)
                            if journal:
                                jidx[jn] = sl
                                jold[jn] = T[sl]
                                jn += 1
                            T[sl] = vr[runr[k], (b >> (7 - bi)) & 1] | ck
                        continue
                v = int(T[slot]) if vsyn[k] < 0 else int(vsyn[k])
                if k < frozen and (v & 255) == chk[k] and ((v >> 8) & 255) >= freeze:
                    continue  # format 8: primed well enough; the record leaves it as priming left it
                if (v & 255) != chk[k]:
                    v = (32768 << 16) | chk[k]  # replace a colliding context
                if journal:
                    jidx[jn] = slot
                    jold[jn] = T[slot]
                    jn += 1
                T[slot] = _counter_update(v, y, limit, rates)
                if x_run and bitpos == 0:
                    T[slot] = int(T[slot]) & ~0x10000  # an ordinary first-bit counter is even: odd ones are runs
            if e1 >= 0:
                slot = o_sm + min(mlen1, 63) * 2 + e1
                if journal:
                    jidx[jn] = slot
                    jold[jn] = T[slot]
                    jn += 1
                T[slot] = _counter_update(int(T[slot]), y, 1023, rates)
            if e2 >= 0:
                slot = o_sm + 128 + min(mlen2, 63) * 2 + e2
                if journal:
                    jidx[jn] = slot
                    jold[jn] = T[slot]
                    jn += 1
                T[slot] = _counter_update(int(T[slot]), y, 1023, rates)
            g = (y << 16) + (y << 7) - y - y
            for stage in range(3 if x_apm3 else 2):
                ai = (a1i, a2i, a3i)[stage] + (wt >> 11)
                if journal:
                    jidx[jn] = ai
                    jold[jn] = T[ai]
                    jn += 1
                t = int(T[ai])
                T[ai] = t + ((g - t) >> 7)
            # format 22: the maps learn as the APM stages do, written out again: one inlined helper for both loops
            # (taking T and the journal) made format 22 code 70 % slower than format 21 instead of 10-15 % (``speed_ab``)
            if x_cmap:
                for k in range(nord + 2, nhashed):
                    ai = cmi[k]
                    if ai >= 0:
                        if journal:
                            jidx[jn] = ai
                            jold[jn] = T[ai]
                            jn += 1
                        t = int(T[ai])
                        T[ai] = t + ((g - t) >> 7)
            c0 = (c0 << 1) | y
            if mode == DECODE:
                byte_val = (byte_val << 1) | y

        # ---------------- after the byte ----------------
        c = c0 & 255
        if x_once:  # format 13: contexts first seen this byte record it in their one slot
            if journal and jn + 8 * nhashed + 1 > jcap:
                return _stop(jidx, jcap, jn, wj, wn, -2)
            for k in range(nhashed):
                if x_run:
                    t0 = int(T[slot0[k]])
                    tag = (((xchk0[k] << 9) | 1) << 16) | chk0[k]
                    if once[k] == 256 and (t0 & 0xFE01FFFF) == (tag | (1 << 8)):
                        wv = tag | (c << 17) | (1 << 8)
                    elif 0 <= once[k] < 256 and (t0 & 0xFE0100FF) == tag and not (k < frozen and runr[k] >= freeze):
                        if runr[k] + 1 > RUN_CAP:  # a long run becomes counters
                            for bi in range(8):
                                wv = vr[RUN_CAP, (c >> (7 - bi)) & 1] | chks[k, bi]  # as a counter that kept learning
                                if bi == 0:
                                    wv &= ~0x10000
                                if journal:
                                    jidx[jn] = idxs[k, bi]
                                    jold[jn] = T[idxs[k, bi]]
                                    jn += 1
                                T[idxs[k, bi]] = wv
                            continue
                        wv = tag | (c << 17) | (min(runr[k] + 1, limit) << 8)
                    else:
                        continue
                    if journal:
                        jidx[jn] = slot0[k]
                        jold[jn] = T[slot0[k]]
                        jn += 1
                    T[slot0[k]] = wv
                    continue
                if once[k] == 256 and (int(T[slot0[k]]) & 0xFFFF) == ((1 << 8) | chk0[k]):
                    if journal:
                        jidx[jn] = slot0[k]
                        jold[jn] = T[slot0[k]]
                        jn += 1
                    T[slot0[k]] = (c << 16) | (1 << 8) | chk0[k]
        if mode == DECODE:
            out[i] = c
        if mode == PRIME and c == 0:  # the reference's records are joined by \0
            recno += 1
        H[pos] = c
        pos += 1
        c4 = ((c4 << 8) | c) & M32
        if x_ind or x_ind3:  # the indirect histories: what followed the previous 1, 2 (and 3) bytes
            if journal and jn + 5 > jcap:  # 3 here, 2 for the match tables below
                return _stop(jidx, jcap, jn, wj, wn, -2)
            hs1 = o_ind + ((c4 >> 8) & 255) if x_ind else -1
            hs2 = o_ind + 256 + ((c4 >> 8) & 0xFFFF) if x_ind else -1
            hs3 = o_ind3 + (_hash(0x1D3, (c4 >> 8) & 0xFFFFFF) & 0xFFFF) if x_ind3 else -1
            for slot in (hs1, hs2, hs3):
                if slot < 0:
                    continue
                if journal:
                    jidx[jn] = slot
                    jold[jn] = T[slot]
                    jn += 1
                T[slot] = ((int(T[slot]) << 8) | c) & 0xFFFF
        if (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c >= 128:
            word = _hash(word, c)
        elif word != 0:
            prev_word2 = prev_word
            prev_word = word
            word = 0
        if x_json:
            if in_str:
                vlen += 1
                if esc:
                    esc = 0
                    shash = _hash(shash, c)
                elif c == 92:  # backslash
                    esc = 1
                    shash = _hash(shash, c)
                elif c == 34:  # closing quote
                    in_str = 0
                    last_str = shash
                else:
                    shash = _hash(shash, c)
            elif c == 34:
                in_str = 1
                shash = 0
                vlen += 1
            elif c == 58:  # ':' : the last string was a key
                jkey = last_str
                vlen = 0
            elif c == 44:  # ',' : the next element or member
                vlen = 0
            elif c == 123 or c == 91:  # '{' '['
                depth += 1
                vlen = 0
            elif c == 125 or c == 93:  # '}' ']'
                if depth > 0:
                    depth -= 1
                vlen = 0
            elif c != 32 and c != 10 and c != 9 and c != 13:
                vlen += 1
        if lead:
            if c == 32 or c == 9:
                indent += 1
            elif c != 10:
                lead = 0
                ftok = _hash(0x77, c) & 0x7FFFFFFF
        elif ftok != 0 and ((48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95):
            if (ftok >> 31) == 0:
                ftok = _hash(ftok, c) & 0x7FFFFFFF
        elif ftok != 0:
            ftok = ftok | 0x80000000  # the first token is complete
        if c == 10:
            indent, lead, ftok, pindent, pftok = 0, 1, 0, indent, ftok
        if c == 40 or c == 91 or c == 123:  # ( [ {
            pdepth += 1
            pstack = ((pstack << 2) | (1 if c == 40 else (2 if c == 91 else 3))) & 0xFFFFFFFF
        elif (c == 41 or c == 93 or c == 125) and pdepth > 0:
            pdepth -= 1
            pstack = pstack >> 2
        if x_num:
            isdig = 48 <= c <= 57
            if innum and (isdig or (c == 46 and nd < 0 and nlen > 0)):
                pass
            elif innum:  # the number ended: with digits, it is one of the last two
                innum = 0
                if nv < NUM_MAX and nlen > int(nneg):
                    av1, as1, ap1 = av2, as2, ap2
                    av2, as2, ap2 = -nv if nneg else nv, max(nd, 0), int(nd >= 0)
                    nnum += 1
                    sc = max(as1, as2)
                    if nnum >= 2 and sc <= 8:  # the candidates: av1 * av2, av1 - av2, av1 + av2
                        for q in range(NUM_CAND):
                            if q == 0:
                                v = av1 * av2
                                extra = as1 + as2 - sc
                                if extra > 0:  # round half away from zero to the larger scale
                                    d10 = 10**extra
                                    v = (abs(v) + d10 // 2) // d10 * (1 if v >= 0 else -1)
                            elif q == 1:
                                v = av1 * 10 ** (sc - as1) - av2 * 10 ** (sc - as2)
                            else:
                                v = av1 * 10 ** (sc - as1) + av2 * 10 ** (sc - as2)
                            _write_number(ncand, clen, q, v, sc, ap1 | ap2)
                cpos[:] = 0
            if not innum and in_str == 0 and (isdig or c == 45):  # a number starts (a digit or a minus sign)
                innum, nv, nd, nneg, nlen = 1, 0, -1, int(c == 45), 0
                cpos[:] = 0
            if innum:
                if isdig:
                    if nv < NUM_MAX:
                        nv = nv * 10 + (c - 48)
                    if nd >= 0:
                        nd += 1
                elif c == 46:
                    nd = 0
                nlen += 1
                for q in range(NUM_CAND):  # how far the number so far has followed each candidate
                    if cpos[q] >= 0:
                        if cpos[q] < clen[q] and ncand[q, cpos[q]] == c:
                            cpos[q] += 1
                        else:
                            cpos[q] = -1
        kc = bclass[c]  # format 20: the runs of byte kinds
        if kc == rk0:
            rn0 = min(rn0 + 1, 255)
        else:
            rk1, rn1, rk0, rn0 = rk0, rn0, kc, 1
        if mode == PRIME and c == 0:  # record separator in the reference: start a fresh record
            rec_start = pos
            rk0, rn0, rk1, rn1 = -1, 0, -1, 0
            fl_kind = 4
            word = 0
            prev_word = 0
            prev_word2 = 0
            indent, lead, ftok, pindent, pftok = 0, 1, 0, 0, 0
            pdepth, pstack = 0, 0
            in_str, esc, shash, last_str, jkey, vlen, depth = 0, 0, 0, 0, 0, 0, 0
            nv, nd, nneg, nlen, innum = 0, -1, 0, 0, 0
            av1, as1, ap1, av2, as2, ap2, nnum = 0, 0, 0, 0, 0, 0, 0
            clen[:] = 0
            cpos[:] = 0
            col = 0
            line_start = pos
            prev_line_start = pos
        elif c == 10:
            prev_line_start = line_start
            line_start = pos
            col = 0
            fl_kind = 4
        else:
            if col == 0:
                fl_kind = kc
            col += 1
        # match models: follow the current match or look a new one up
        if mlen1 > 0:
            if int(H[mptr1]) == c:
                mlen1 += 1
                mptr1 += 1
            else:
                mlen1 = 0
        if mlen2 > 0:
            if int(H[mptr2]) == c:
                mlen2 += 1
                mptr2 += 1
            else:
                mlen2 = 0
        for which in range(2):
            mlen_ = min1 if which == 0 else min2
            if pos < mlen_:
                continue
            h = 0x1234567 + mlen_
            for j in range(mlen_):
                h = _hash(h, int(H[pos - 1 - j]))
            slot = (o_mt1 if which == 0 else o_mt2) + (h & mmask)
            if (mlen1 if which == 0 else mlen2) == 0:
                cand = int(T[slot])
                if cand > 0:
                    ln = 0
                    while ln < 64 and cand - 1 - ln >= 0 and H[cand - 1 - ln] == H[pos - 1 - ln]:
                        ln += 1
                    if ln >= mlen_:
                        if which == 0:
                            mptr1 = cand
                            mlen1 = ln
                        else:
                            mptr2 = cand
                            mlen2 = ln
            if journal:
                jidx[jn] = slot
                jold[jn] = T[slot]
                jn += 1
            T[slot] = pos
        # format 9: does the record end here? (priming learns it; a record coded with ``ENDS`` codes it)
        if x_end and (ends or mode == PRIME) and not (mode == PRIME and c == 0):
            rl = pos - rec_start
            lb = 0
            while (rl >> lb) > 0 and lb < 24:
                lb += 1
            top = 1 if (depth == 0 and in_str == 0) else 0
            eslot = int(o_end) + int(_hash(0xE2D00 + (c4 & 0xFFFF), top * 32 + lb) & (END_SLOTS - 1))
            if mode == PRIME:
                e = 1 if (i + 1 >= n_bytes or data[i + 1] == 0) else 0
                T[eslot] = _counter_update(int(T[eslot]), e, limit, rates)
            else:
                pe = int(np.int64(T[eslot]) >> 20)  # (a uint32 shifted would be unsigned: numba's int64 x uint64 is a float)
                if pe < 1:
                    pe = 1
                elif pe > 4095:
                    pe = 4095
                e = 1 if (mode == ENCODE and i == n_bytes - 1) else 0
                e, x1, x2, xx, inpos, outpos, code = _code(mode, e, pe, x1, x2, xx, inpos, outpos, data, out, limit_in)
                if code < 0:
                    return _stop(jidx, jcap, jn, wj, wn, code)
                if e:
                    done = i + 1
                    break
                if i == n_bytes - 1:  # decoding: no end within the n bytes asked for
                    return _stop(jidx, jcap, jn, wj, wn, -4)

    _stop(jidx, jcap, jn, wj, wn, 0)
    if mode == ENCODE:
        # flush: one byte of x1 (the decoder pads with 0xFF, which keeps it inside [x1, x2])
        if outpos >= out.shape[0]:
            return -1
        out[outpos] = x1 >> 24
        outpos += 1
        return outpos
    return done


@njit(cache=True)
def undo(T: np.ndarray, jidx: np.ndarray, jold: np.ndarray) -> None:
    """Restore every counter a record wrote, newest first."""
    jn = jidx[jidx.shape[0] - 1]
    for k in range(jn - 1, -1, -1):
        T[jidx[k]] = jold[k]


@njit(cache=True)
def undo_weights(W: np.ndarray, wj: np.ndarray, wold: np.ndarray) -> None:
    """Put back every mixer weight set a record changed (saved by ``process`` before its first change)."""
    for k in range(wj[wj.shape[0] - 1]):
        start = wj[2 * k]
        for j in range(wj[2 * k + 1]):
            W[_u(start + j)] = wold[k, j]
