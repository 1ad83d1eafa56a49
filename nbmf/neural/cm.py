"""The primed context-mixing state of one domain model and the per-record encode / decode on it.

reference text (train records joined by \\0) --prime--> T (counters, match tables, APMs), W (mixer)
encode(record): process(ENCODE) ; undo journal      -> coded bytes
decode(coded, n): process(DECODE) ; undo journal    -> record
(the journal: every counter and mixer weight set the record changed, put back after it, also when
the kernel stops early -- a record that does not shrink, a full journal)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from nbmf.errors import CodecError, NoGainError
from nbmf.neural import kernel as K
from nbmf.neural.tables import SQUASH

log = logging.getLogger(__name__)

NO_TRACE = np.zeros((0, 2), np.int64)
MAX_RECORD = 1 << 16  # the neural codec takes records up to 64 KiB; larger ones go to zstd


WEIGHT_SAVES = 56  # weight sets one byte may save at most: 7 per bit (five mixers and two final ones, format 21)

WEIGHT_HEADROOM = 1 << 30  # a state keeps its mixer weights as int32 while every one lies within this (``narrow_weights``)
INPUT_MAX = 2047  # no mixer input, and no mixer output a final mixer weighs, is larger (stretch, clipped; kernel.process)


def weight_step(rate: int) -> int:
    """The most one weight moves in one bit at learning rate ``rate``: (input x error x rate) >> 14, an input at most
    ``INPUT_MAX``, an error (y << 12 minus a 12-bit probability) at most 4095 (the post mixer rounds: + 1)."""
    return (INPUT_MAX * 4095 * max(rate, 2)) // (1 << 14) + 2


def narrow_weights(W: np.ndarray) -> tuple[np.ndarray, int]:
    """The mixer weights as int32 where every one lies within ``WEIGHT_HEADROOM`` (priming leaves them within about
    1e6: technical, legal), else as they are (int64); and the largest magnitude. The kernel reads up to seven weight sets
    of 50 weights a bit from 158-316 MB of them, so half the bytes is half the cache lines it waits for; it sums their
    products in int64 either way, so int32 weights code the same bytes as int64 ones as long as no weight leaves int32
    while a record is coded, which ``CMState._run`` makes sure of before each record (``weight_step``). The plain-Python
    kernel (tests' reference) keeps them int64 (``kernel.NARROW``)."""
    wmax = int(np.abs(W).max()) if W.size else 0
    if K.NARROW and W.dtype == np.int64 and wmax <= WEIGHT_HEADROOM:
        return W.astype(np.int32), wmax
    return W, wmax


def _weight_journal(n: int, ninputs: int, xctx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Room to save the mixer weight sets a record of ``n`` bytes may change (at most 7 per bit, at
    most every set once): flags per set, (offset, size) per saved set + the count, the saved weights."""
    sets = K.weight_sets(xctx)
    cap = min(sets, WEIGHT_SAVES * n)
    return np.zeros(sets, np.uint8), np.zeros(2 * cap + 1, np.int64), np.empty((cap, ninputs), np.int64)


SCRATCH_RECORD = 4096  # records up to this size code with journal buffers their state keeps (``_journal``)


def _journal(n: int, nhashed: int, ninputs: int, xctx: int, kept: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """(jidx, jold, wflag, wj, wold): the journal of a record of ``n`` bytes. Up to ``SCRATCH_RECORD``
    bytes they are views of buffers kept in ``kept`` (filled on first use; a state keeps one set and
    uses it under its lock): fresh pages for every record cost more than coding a format 6 record
    gains (its wide mixers save thousands of weight sets per KB). ``wflag`` is all zero; the caller
    zeroes it again after the record (``CMState._run``)."""
    per_byte = 16 * (nhashed + 8) + (8 * nhashed if xctx & K.X_CMAP else 0)  # format 22: a map bucket per context per bit
    jcap = n * per_byte + 4 * n + 16 + 17 * nhashed
    if n > SCRATCH_RECORD:
        return (np.zeros(jcap + 1, np.int64), np.zeros(jcap + 1, np.uint32), *_weight_journal(n, ninputs, xctx))
    if not kept:
        big = SCRATCH_RECORD * per_byte + 4 * SCRATCH_RECORD + 16 + 17 * nhashed
        kept += [np.zeros(big + 1, np.int64), np.zeros(big + 1, np.uint32), *_weight_journal(SCRATCH_RECORD, ninputs, xctx)]
    jidx, jold, wflag, wj, wold = kept
    cap = min(wflag.shape[0], WEIGHT_SAVES * n)
    return jidx[: jcap + 1], jold[: jcap + 1], wflag, wj[: 2 * cap + 1], wold[:cap]


@dataclass
class CMConfig:
    orders: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 12)  # (2, 3, 4, 5, 6, 8) before 2026-12-02
    table_bits: int = 23
    match_bits: int = 22
    match_min: tuple[int, int] = (7, 20)  # (6, 16) before 2026-12-02
    limit: int = 255  # 60 in models built before 2026-12-01 (each model's config says which)
    lr: int = 5  # 6 in every model before format 6, 4 in models built before 2026-12-05
    lr_record: int = 16  # the mixers' learning rate while a record is coded (0: lr, every model before format 5; 12 before 2026-12-02)
    # extra hashed contexts (kernel.X_NAMES); () before format 2, "num" from format 11, "shape" from format 19
    contexts: tuple[str, ...] = ("json", "word", "ind", "match", "ind3", "word3", "line", "paren", "recw", "rec3", "num", "shape")
    mixers: int = 6  # 2: two mixers averaged (before format 2); 3: + mixer 3 and a learned final mixer; 4: + mixer 4
    # (format 18); 5: + mixer 5 and the selections that come with it (format 20, kernel.X_MIX5); 6: + a second final
    # mixer, mixer 5 by the word, the third APM stage by three bytes (format 21, kernel.X_FINAL2)
    ways: int = 4  # slots a hashed context may take in its aligned group (1 before format 4)
    apms: int = 3  # APM stages: 3 adds one over the previous two bytes (2 before format 4)
    wide_mixers: bool = True  # mixer weights selected by more context (kernel.X_WIDE; format 6)
    freeze: int = 8  # a record leaves the shared counters seen this often as primed (0: all learn, before format 8)
    ends: bool = True  # the model can code where a record ends (kernel.X_END; format 9): frames need no length
    once: bool = True  # a context seen once takes one slot (kernel.X_ONCE; format 13)
    runs: bool = True  # ... and keeps it while the same byte follows it every time (kernel.X_RUN; format 14; needs once)
    late: bool = False  # the predictor enters the post mixer only, not the mixers (kernel.X_LATE; format 15; needs post_mix)
    post_mix: bool = True  # a last mixer after the APM stages gives the predictor a second say (kernel.X_POST; format 12)
    match_trust: int = 8  # the match models' inputs while a record is coded, in eighths (kernel.TRUST_SHIFT; format 16 below 8)
    order_sets: bool = False  # mixers 1 and 2 select by the highest order seen and its counter (kernel.X_ORDSEL; format 17)
    maps: bool = True  # each extra context is read through a map by its count and probability (kernel.X_CMAP; format 22)


def _trust_bits(trust: int) -> int:
    """The match models' trust (eighths) as the kernel reads it in cfg[C_LR]: 8 is 0, as every model before format 16."""
    if not 1 <= trust <= 8:
        raise CodecError(f"match_trust must be in 1..8 (eighths), got {trust}")
    return trust << K.TRUST_SHIFT if trust < 8 else 0


@dataclass
class NeuralWeights:
    """The integer neural predictor (see nbmf/neural/model.py ``export_int``)."""

    P: np.ndarray  # int16 or int32 [ctx, 256, hidden]: first layer folded per (position, byte); stored as int32
    B1: np.ndarray  # int64 [hidden]
    WO: np.ndarray  # int64 [256, hidden]: one output row per binary-tree node c0
    BO: np.ndarray  # int64 [256]
    m1: int
    s1: int
    m2: int
    post: np.ndarray | None = None  # int64 [kernel.POST_SETS * 3]: the post mixer's weights, learned on val (format 12)

    def __post_init__(self) -> None:
        """P holds the same integers as the artifact (int32), in the narrowest type the kernel sums exactly: the
        kernel reads 64 rows of it for each byte coded. int16 where every value fits and B1 plus one row per
        position cannot pass int32 (the models built here lie within +-1,700), which the kernel sums in int32:
        decode 8-11 % faster than int32 on financial and general (thirty-third session; ``BENCHMARKS.md``,
        "The first-layer table as int16"). int32 otherwise, summed in int64 (half the memory of int64:
        ``bench/p_dtype_speed.py``). The two types are two compiled kernels."""
        p = np.asarray(self.P)
        lo, hi = (int(p.min()), int(p.max())) if p.size else (0, 0)
        if lo < -(2**31) or hi >= 2**31:
            raise ValueError(f"the predictor's first-layer table holds {lo}..{hi}, outside int32")
        b1 = np.asarray(self.B1)
        # the kernel's int32 sum of B1 and one int16 row per context position cannot wrap within this bound
        bound = (int(np.abs(b1).max()) if b1.size else 0) + (p.shape[0] if p.ndim else 1) * 2**15
        narrow = -(2**15) <= lo and hi < 2**15 and bound < 2**31
        self.P = np.ascontiguousarray(p, np.int16 if narrow else np.int32)

    @classmethod
    def empty(cls) -> NeuralWeights:
        return cls(np.zeros((1, 256, 1), np.int64), np.zeros(1, np.int64), np.zeros((256, 1), np.int64), np.zeros(256, np.int64), 0, 0, 0)


@dataclass
class CMState:
    config: CMConfig
    nn: NeuralWeights
    cfg: np.ndarray
    T: np.ndarray
    W0: np.ndarray
    H: np.ndarray
    ref_len: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    source: str = "primed"  # where it came from: primed here, read from this node's disk ("node"), or the shelf
    broken: str | None = None  # why this state can no longer be trusted (a record's writes not undone): it codes nothing more
    scratch: list[np.ndarray] = field(default_factory=list, repr=False)  # journal buffers reused under the lock (``_journal``)
    wmax: int = field(default=0, repr=False)  # the largest |weight| in W0 between records (``narrow_weights``)

    def __post_init__(self) -> None:
        self.W0, self.wmax = narrow_weights(self.W0)

    def arrays(self) -> dict[str, np.ndarray]:
        """What priming computed (for ``primed_cache``): tables, mixer weights, history, config."""
        return {"cfg": self.cfg, "T": self.T, "W0": self.W0, "H": self.H, "ref_len": np.array([self.ref_len], np.int64)}

    @staticmethod
    def _cfg(config: CMConfig, nn: NeuralWeights, use_nn: bool, nn_only: bool) -> np.ndarray:
        cfg = np.zeros(K.C_ORDERS + len(config.orders), dtype=np.int64)
        cfg[K.C_NORD] = len(config.orders)
        cfg[K.C_BITS] = config.table_bits
        cfg[K.C_LIMIT] = config.limit
        if not 1 <= config.lr <= 255 or not 0 <= config.lr_record <= 255 or not 0 <= config.freeze <= 255:
            raise CodecError(
                f"lr, lr_record and freeze must be in 1..255, 0..255 and 0..255, got {config.lr}, {config.lr_record} and {config.freeze}"
            )
        # lr_record 0: the record learns at lr (before format 5); freeze 0: every counter learns (before format 8)
        cfg[K.C_LR] = config.lr | (config.lr_record << 8) | (config.freeze << 16) | _trust_bits(config.match_trust)
        cfg[K.C_MIN1], cfg[K.C_MIN2] = config.match_min
        cfg[K.C_MBITS] = config.match_bits
        has_nn = use_nn and nn.m2 != 0
        cfg[K.C_USE_NN] = int(has_nn)
        cfg[K.C_NN_ONLY] = int(nn_only)
        cfg[K.C_NN_CTX] = nn.P.shape[0]
        cfg[K.C_NN_H] = nn.P.shape[2] if has_nn else 0
        cfg[K.C_NN_M1], cfg[K.C_NN_S1], cfg[K.C_NN_M2] = nn.m1, nn.s1, nn.m2
        cfg[K.C_ORDERS :] = config.orders
        for name in config.contexts:
            if name not in K.X_NAMES:
                raise CodecError(f"unknown context {name!r} (known: {', '.join(K.X_NAMES)})")
            cfg[K.C_XCTX] |= K.X_NAMES[name]
        if config.mixers not in (2, 3, 4, 5, 6):
            raise CodecError(f"mixers must be 2, 3, 4, 5 or 6, got {config.mixers}")
        if config.mixers >= 3:
            cfg[K.C_XCTX] |= K.X_MIX3
        if config.mixers >= 4:  # format 18: a fourth mixer, by the kinds of the last three bytes
            cfg[K.C_XCTX] |= K.X_MIX4
        if config.mixers >= 5:  # format 20: a fifth, by the JSON value's place or the line's layout; mixer 4 by the runs
            cfg[K.C_XCTX] |= K.X_MIX5
        if config.mixers == 6:  # format 21: a second final mixer by mixer 5's sets; mixer 5 by the word; APM 3 by 3 bytes
            cfg[K.C_XCTX] |= K.X_FINAL2
        if config.ways not in (1, 2, 4, 8):
            raise CodecError(f"ways must be 1, 2, 4 or 8, got {config.ways}")
        cfg[K.C_WAYS] = config.ways if config.ways > 1 else 0  # 0: one slot, as every model before format 4
        if config.apms not in (2, 3):
            raise CodecError(f"apms must be 2 or 3, got {config.apms}")
        if config.apms == 3:
            cfg[K.C_XCTX] |= K.X_APM3
        if config.wide_mixers:
            cfg[K.C_XCTX] |= K.X_WIDE
        if config.ends:
            cfg[K.C_XCTX] |= K.X_END
        if config.post_mix:
            cfg[K.C_XCTX] |= K.X_POST
        if config.once:
            cfg[K.C_XCTX] |= K.X_ONCE
        if config.runs:
            cfg[K.C_XCTX] |= K.X_RUN
        if config.late:
            if not config.post_mix:
                raise CodecError("a late predictor (format 15) speaks in the post mixer: post_mix is needed")
            cfg[K.C_XCTX] |= K.X_LATE
        if config.order_sets and config.wide_mixers:  # (it chooses among the wide mixers' sets: format 6's)
            cfg[K.C_XCTX] |= K.X_ORDSEL
        if config.maps and config.contexts:  # (maps for the extra contexts: without any, a format 21 model's config)
            cfg[K.C_XCTX] |= K.X_CMAP
        return cfg

    @classmethod
    def fits(cls, arrays: dict[str, np.ndarray], config: CMConfig, nn: NeuralWeights, use_nn: bool, nn_only: bool) -> bool:
        """Whether arrays read back from disk are a state of this config (shapes and the kernel config)."""
        try:
            cfg = cls._cfg(config, nn, use_nn, nn_only)
            return (
                np.array_equal(arrays["cfg"], cfg)
                and arrays["T"].shape == (K.layout(cfg)["size"],)
                and arrays["T"].dtype == np.uint32
                and arrays["W0"].dtype in (np.int64, np.int32)  # (int32: ``narrow_weights``; states written before: int64)
                and arrays["H"].dtype == np.uint8
                and arrays["H"].shape[0] >= int(arrays["ref_len"][0]) + MAX_RECORD
            )
        except (KeyError, IndexError, ValueError):
            return False

    @classmethod
    def from_arrays(cls, config: CMConfig, nn: NeuralWeights, arrays: dict[str, np.ndarray]) -> CMState:
        return cls(config, nn, np.array(arrays["cfg"]), arrays["T"], arrays["W0"], arrays["H"], int(arrays["ref_len"][0]))

    @classmethod
    def build(
        cls, config: CMConfig, reference: bytes, nn: NeuralWeights | None = None, use_nn: bool = True, nn_only: bool = False
    ) -> CMState:
        """Allocate and prime. ``use_nn=False``: the mix without its neural input; ``nn_only``: the
        neural predictor alone codes every bit (for measuring what each part adds)."""
        nn = nn or NeuralWeights.empty()
        cfg, T, W, H = cls.allocate(config, len(reference), nn, use_nn, nn_only)
        ref = np.frombuffer(reference + b"\0", dtype=np.uint8)
        # priming keeps no journal; its (empty) one has the coding journal's types, so that numba compiles one
        # specialisation of ``process`` for priming and for a record coded on int64 weights (a long one), not two
        j, jold = np.zeros(2, np.int64), np.zeros(2, np.uint32)
        if nn_only:  # the predictor alone needs no priming of the counters
            ref = ref[-1:]
        K.process(
            K.PRIME, cfg, T, W, H, 0, ref, len(ref), np.zeros(1, np.uint8), j, jold, *_weight_journal(0, 1, int(cfg[K.C_XCTX])),
            nn.P, nn.B1, nn.WO, nn.BO, NO_TRACE,
        )  # fmt: skip
        if config.post_mix and use_nn and not nn_only and nn.post is not None:  # priming leaves the post mixer alone
            W[-K.POST_SETS * 3 :] = nn.post
        return cls(config, nn, cfg, T, W, H, len(ref))

    @classmethod
    def allocate(
        cls, config: CMConfig, reference_len: int, nn: NeuralWeights, use_nn: bool = True, nn_only: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(cfg, T, W, H) before priming: every counter at 1/2, every APM stage the identity, every mixer weight at its
        start, room in the history for a reference of ``reference_len`` bytes and a record."""
        if nn_only and nn.m2 == 0:
            raise CodecError("nn_only needs neural weights")
        cfg = cls._cfg(config, nn, use_nn, nn_only)
        lay = K.layout(cfg)
        T = np.zeros(lay["size"], dtype=np.uint32)
        T[: lay["hashed"]] = 32768 << 16  # o0 / o1 counters start at p = 1/2
        T[lay["sm"] : lay["mt1"]] = 32768 << 16
        # APM buckets start at the identity: bucket j holds squash of its stretch value
        ident = np.array([SQUASH[max(0, min(4095, (j * 4096 - 2048 * 23) // 23 + 2048))] * 16 for j in range(K.APM_BUCKETS)], np.uint32)
        T[lay["apm1"] : lay["ind"]] = np.tile(ident, (256 + 65536))
        T[lay["apm3"] : lay["rec"]] = np.tile(ident, (lay["rec"] - lay["apm3"]) // K.APM_BUCKETS)
        T[lay["cmap"] : lay["size"]] = np.tile(ident, (lay["size"] - lay["cmap"]) // K.APM_BUCKETS)  # format 22's maps too
        ninputs = K.n_inputs(len(config.orders), int(cfg[K.C_XCTX]))
        m1, m2, m3, m4, m5, mf = K.mixer_sets(int(cfg[K.C_XCTX]))
        fw = K.final_weights(int(cfg[K.C_XCTX]))
        W = np.full((m1 + m2) * ninputs, 12000, dtype=np.int64)
        if config.mixers >= 3:  # mixers 3 (4, 5) as the others; the final mixer starts as the mean of them
            W = np.concatenate([W, np.full((m3 + m4 + m5) * ninputs, 12000, np.int64), np.full(mf * fw, 65536 // fw, np.int64)])
        if config.post_mix:  # the post mixer starts as the identity: 1.0 on the final probability, 0 on the predictor
            W = np.concatenate([W, np.tile(np.array([65536, 0, 0], np.int64), K.POST_SETS)])
        H = np.zeros(reference_len + 1 + MAX_RECORD, dtype=np.uint8)
        return cfg, T, W, H

    @property
    def post(self) -> np.ndarray:
        """The post mixer's weights (format 12), a view into the state's weights."""
        if not self.config.post_mix:
            raise CodecError("this model has no post mixer (artifact format 12)")
        return self.W0[-K.POST_SETS * 3 :]

    def trust_matches(self, trust: int) -> None:
        """Code records from now on with the match models' trust ``trust`` (eighths, format 16; 8: as before): a
        primed state does not depend on it, so a build tries several on one state (``nbmf.neural.build``)."""
        bits = _trust_bits(trust)
        with self.lock:
            self.config = replace(self.config, match_trust=trust)
            self.cfg[K.C_LR] = (int(self.cfg[K.C_LR]) & ~(15 << K.TRUST_SHIFT)) | bits

    def set_record_rate(self, rate: int) -> None:
        """Code records from now on with the mixers learning at ``rate`` (``lr_record``, format 5 and later; 0: at the
        priming rate): a primed state does not depend on it, so a build tries several on one state (``nbmf.neural.build``)."""
        if not 0 <= rate <= 255:
            raise CodecError(f"lr_record must be in 0..255, got {rate}")
        with self.lock:
            self.config = replace(self.config, lr_record=rate)
            self.cfg[K.C_LR] = (int(self.cfg[K.C_LR]) & ~(255 << 8)) | (rate << 8)

    def learn_post(self, records: Sequence[bytes], rate: int) -> np.ndarray:
        """The post mixer's weights (format 12) after coding ``records`` one by one at learning rate ``rate``, each
        from the primed state but keeping what the post mixer learned from the ones before, starting from the
        weights it has: what ``NeuralWeights.post`` holds. Train them on records the predictor was not trained on
        (val): on its own training text it looks better than it is."""
        if not 1 <= rate <= 255:
            raise CodecError(f"the post mixer's learning rate must be in 1..255, got {rate}")
        post = self.post
        for r in records:
            if 0 < len(r) <= MAX_RECORD:
                x = np.frombuffer(r, np.uint8)
                self._run(K.ENCODE, x, len(r), np.zeros(2 * len(r) + 64, np.uint8), learn_post=rate)
        return post.astype(np.int64)

    def _run(self, mode: int, data: np.ndarray, n: int, out: np.ndarray, trace: np.ndarray | None = None, learn_post: int = 0) -> int:
        xctx = int(self.cfg[K.C_XCTX])
        nhashed = int(self.cfg[K.C_NORD]) + 2 + K.n_extra(xctx)
        nn = self.nn
        cfg = self.cfg
        if learn_post:  # the post mixer learns, and keeps what it learned (``learn_post``)
            cfg = self.cfg.copy()
            cfg[K.C_XCTX] |= K.X_POST_LEARN
            cfg[K.C_LR] |= learn_post << 24
        with self.lock:  # the primed state is shared: one record at a time per state (and its journal buffers)
            if self.broken is not None:
                raise CodecError(f"this model's primed state cannot be trusted ({self.broken}): load the model again")
            W = self.W0
            if W.dtype == np.int32 and not self._fits_int32(n, learn_post):
                W = W.astype(np.int64)  # a record long enough to move a weight out of int32: coded on a wide copy
            jidx, jold, wflag, wj, wold = _journal(n, nhashed, K.n_inputs(int(self.cfg[K.C_NORD]), xctx), xctx, self.scratch)
            jcap = jidx.shape[0] - 1
            # the kernel writes how much it journaled on every return; -1 still there afterwards means it did
            # not, and the record's writes stay in the shared state: every later frame would decode only here
            jidx[jcap] = wj[-1] = -1
            try:  # the record's mixers learn in W0 itself; every weight set it changes is saved first
                got = int(
                    K.process(
                        mode, cfg, self.T, W, self.H, self.ref_len, data, n, out, jidx, jold, wflag, wj, wold,
                        nn.P, nn.B1, nn.WO, nn.BO, NO_TRACE if trace is None else trace,
                    )
                )  # fmt: skip
            finally:
                K.undo(self.T, jidx, jold)
                K.undo_weights(W, wj, wold)
                wflag[:] = 0  # the buffers serve this state's next record
                if jidx[jcap] < 0 or wj[-1] < 0:
                    self.broken = "a record's writes were not journaled, so not undone"
                    log.error("primed state of %d reference bytes: %s; it codes no more records", self.ref_len - 1, self.broken)
                if learn_post:  # the post mixer keeps what it learned, and bounds every record after
                    post = W[-K.POST_SETS * 3 :]
                    if W is not self.W0:
                        self.W0, self.wmax = narrow_weights(W)
                    self.wmax = max(self.wmax, int(np.abs(post).max()))
            if self.broken is not None:
                raise CodecError(f"this model's primed state cannot be trusted ({self.broken}): load the model again")
            return got

    def _fits_int32(self, n: int, learn_post: int) -> bool:
        """Whether no weight can leave int32 while a record of at most ``n`` bytes is coded: every weight starts within
        ``wmax`` and moves at most ``weight_step`` a bit, at the record's rate (the priming rate where it has none), or
        the post mixer's while it learns. The service's records (up to 4 KB at rate 24) are far inside: 4.0e8 of 2^31."""
        lr = int(self.cfg[K.C_LR])
        rate = max((lr >> 8) & 255 or lr & 255, learn_post)
        return self.wmax + 8 * n * weight_step(rate) < 2**31

    def trace(self, record: bytes, coded: bytes | None = None) -> np.ndarray:
        """Per-bit (probability, neural stretch) seen while encoding ``record`` (or decoding ``coded``)."""
        tr = np.zeros((len(record) * 8, 2), np.int64)
        if coded is None:
            self._run(K.ENCODE, np.frombuffer(record, np.uint8), len(record), np.zeros(len(record) * 2 + 64, np.uint8), tr)
        else:
            self._run(K.DECODE, np.frombuffer(coded, np.uint8), len(record), np.zeros(len(record), np.uint8), tr)
        return tr

    @property
    def codes_ends(self) -> bool:
        """Whether this model can code where a record ends (format 9): its frames then carry no length."""
        return bool(int(self.cfg[K.C_XCTX]) & K.X_END)

    def encode(self, record: bytes, max_out: int | None = None, ends: bool = False) -> bytes:
        """``ends``: also code where the record ends (``decode_ends`` needs no length); format 9 models only."""
        if len(record) > MAX_RECORD:
            raise CodecError(f"neural codec takes records up to {MAX_RECORD} bytes, got {len(record)}")
        if ends and not self.codes_ends:
            raise CodecError("this model cannot code where a record ends (artifact formats 9 on can): write a frame with its length")
        if ends and not record:
            raise NoGainError("an empty record is stored, not coded")
        out = np.zeros(max_out if max_out is not None else len(record) + 16, np.uint8)
        n = self._run(K.ENCODE | (K.ENDS if ends else 0), np.frombuffer(record, np.uint8), len(record), out)
        if n < 0:
            raise NoGainError("neural coding did not shrink the record")
        return out[:n].tobytes()

    def decode_ends(self, coded: bytes, max_length: int = MAX_RECORD) -> bytes:
        """Decode a record coded with ``ends`` (no length known): up to ``max_length`` bytes (at most
        ``MAX_RECORD``). The first pass decodes up to ``SCRATCH_RECORD`` bytes with the journal buffers a state
        keeps: every record of the memory service's sizes in one pass, on pages already mapped (sizing it by
        the coded bytes took fresh buffers for a 4 KB record coded to over 126 bytes, whose pages fault in:
        mean decode time -6 % on legal, -11 % on technical, BENCHMARKS.md). A longer record is decoded again,
        from 32 bytes per coded byte or twice the bytes tried, doubling while the end has not come."""
        if not self.codes_ends:
            raise CodecError("this model cannot code where a record ends: a frame without a length cannot be decoded with it")
        cap = min(max_length, MAX_RECORD)
        data = np.frombuffer(coded, np.uint8)
        n = min(cap, SCRATCH_RECORD)
        while True:
            out = np.zeros(n, np.uint8)
            got = self._run(K.DECODE | K.ENDS, data, n, out)
            if got > 0:
                return out[:got].tobytes()
            if got == -4 and n < cap:
                n = min(cap, max(2 * n, 32 * len(coded) + 64))
                continue
            if got == -4:
                raise CodecError(f"neural payload does not end within {cap} bytes (corrupt, or over the record limit)")
            raise CodecError("neural payload is corrupt: it ran out before the record's end")

    def decode(self, coded: bytes, length: int) -> bytes:
        if length > MAX_RECORD:
            raise CodecError(f"neural frame claims {length} bytes, over the {MAX_RECORD}-byte limit")
        out = np.zeros(length, np.uint8)
        self._run(K.DECODE, np.frombuffer(coded, np.uint8), length, out)
        return out.tobytes()
