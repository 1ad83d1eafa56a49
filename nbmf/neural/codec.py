"""``NeuralCodec``: the domain model as a codec (codec id 3), and how its artifact files are built.

artifact files:  neural.safetensors  integer tensors P, B1, WO, BO (+ metadata: multipliers,
                                     CM parameters, config)
                 reference.zst       the domain reference text the model is primed with
load:  files --sha256-checked by the registry--> the primed state (``primed_state``: this process, this node's
       disk, the registry's shelf, or priming once)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import zstandard as zstd
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from nbmf.config import CMParams
from nbmf.errors import CodecError, IntegrityError, NBMFError
from nbmf.frame import CodecId, ModelRef
from nbmf.neural import kernel as K
from nbmf.neural import primed_cache
from nbmf.neural.cm import CMConfig, CMState, NeuralWeights

log = logging.getLogger(__name__)

WEIGHTS_FILE, REFERENCE_FILE = "neural.safetensors", "reference.zst"
# Weak: a primed state (hundreds of MB with real tables) lives exactly as long as a model that holds it;
# the codec's LRU evicting a model frees it (issue #14: a process-wide dict held every state forever).
# Building holds the lock, so two loads of one version in a process share one priming.
_STATES: weakref.WeakValueDictionary[str, CMState] = weakref.WeakValueDictionary()
_STATES_LOCK = threading.Lock()


FORMATS = tuple(f"nbmf-neural-{n}" for n in range(1, 23))  # every one ever written
_FORMAT5_CONTEXTS = ("ind3", "word3")
_FORMAT7_CONTEXTS = ("recw", "rec3")
_FORMAT10_CONTEXTS = ("line", "paren")
_FORMAT11_CONTEXTS = ("num",)
_FORMAT19_CONTEXTS = ("shape",)
# the CM fields each format's JSON lacks (a format writes exactly the JSON its readers knew): each field from its format on
_FIELD_SINCE = {
    "ways": 4,
    "apms": 4,
    "lr_record": 5,
    "wide_mixers": 6,
    "freeze": 8,
    "ends": 9,
    "post_mix": 12,
    "once": 13,
    "runs": 14,
    "late": 15,
    "match_trust": 16,
    "order_sets": 17,
    "maps": 22,
}
_NOT_WRITTEN: dict[str, set[str]] = {f: {k for k, n in _FIELD_SINCE.items() if n > i} for i, f in enumerate(FORMATS, 1)}


def artifact_format(cm: CMParams) -> str:
    """The oldest format that has every feature this CM config uses (older models stay byte for byte)."""
    if cm.maps and cm.contexts:
        return "nbmf-neural-22"
    if cm.mixer_count == 6:
        return "nbmf-neural-21"
    if cm.mixer_count == 5:
        return "nbmf-neural-20"
    if any(c in cm.contexts for c in _FORMAT19_CONTEXTS):
        return "nbmf-neural-19"
    if cm.mixer_count == 4:
        return "nbmf-neural-18"
    if cm.order_sets is True and cm.wide_mixers:
        return "nbmf-neural-17"
    if cm.match_trust is not None and cm.match_trust < 8:
        return "nbmf-neural-16"
    if cm.late and cm.post_mix:
        return "nbmf-neural-15"
    if cm.once and cm.runs:
        return "nbmf-neural-14"
    if cm.once:
        return "nbmf-neural-13"
    if cm.post_mix:
        return "nbmf-neural-12"
    if any(c in cm.contexts for c in _FORMAT11_CONTEXTS):
        return "nbmf-neural-11"
    if any(c in cm.contexts for c in _FORMAT10_CONTEXTS):
        return "nbmf-neural-10"
    if cm.ends:
        return "nbmf-neural-9"
    if cm.freeze:
        return "nbmf-neural-8"
    if any(c in cm.contexts for c in _FORMAT7_CONTEXTS):
        return "nbmf-neural-7"
    if cm.wide_mixers:
        return "nbmf-neural-6"
    if cm.lr_record != 0 or any(c in cm.contexts for c in _FORMAT5_CONTEXTS):
        return "nbmf-neural-5"
    if cm.ways != 1 or cm.apms != 2 or "match" in cm.contexts:
        return "nbmf-neural-4"
    if "ind" in cm.contexts:
        return "nbmf-neural-3"
    return "nbmf-neural-2" if cm.contexts or cm.mixer_count != 2 else "nbmf-neural-1"


def cm_config(p: CMParams) -> CMConfig:
    p = p.sized_for(0)  # sizes left open and no reference to size them by: the small ones (an artifact names its own)
    assert p.table_bits is not None and p.match_bits is not None
    return CMConfig(
        orders=tuple(p.orders),
        table_bits=p.table_bits,
        match_bits=p.match_bits,
        match_min=(p.match_min[0], p.match_min[1]),
        limit=p.limit,
        lr=p.lr,
        lr_record=p.record_rate,  # left open (the build has not chosen): 16, as before
        contexts=tuple(p.contexts),
        mixers=p.mixer_count,  # left open (the build has not chosen): 6
        ways=p.ways,
        apms=p.apms,
        wide_mixers=p.wide_mixers,
        freeze=p.freeze,
        ends=p.ends,
        post_mix=p.post_mix,
        once=p.once,
        runs=p.once and p.runs,
        late=p.post_mix and p.late,
        match_trust=p.match_trust or 8,  # left open (the build has not chosen): as before format 16
        order_sets=bool(p.order_sets) and p.wide_mixers,  # left open (the build has not chosen): as before format 17
        maps=p.maps,
    )


def pack_files(weights: NeuralWeights, reference: bytes, cm: CMParams, use_neural: bool = True) -> dict[str, bytes]:
    """The two artifact files of a neural model (no pickle: safetensors + zstd text). The artifact names its table size:
    where ``cm`` leaves it open, the one its reference takes (``CMParams.sized_for``)."""
    cm = cm.sized_for(len(reference))
    if cm.lr_record is None:  # an artifact names its record rate (every one has, since format 5)
        cm = cm.model_copy(update={"lr_record": cm.record_rate})
    if cm.mixers is None:  # and its mixers (every one has)
        cm = cm.model_copy(update={"mixers": cm.mixer_count})
    fmt = artifact_format(cm)
    meta = {
        "m1": str(weights.m1),
        "s1": str(weights.s1),
        "m2": str(weights.m2),
        "cm": cm.model_dump_json(exclude=_NOT_WRITTEN.get(fmt)),  # formats 1-4 as written
        "use_neural": json.dumps(use_neural),
        # format 2: the CM config has extra contexts or a third mixer, which a reader of format 1 would ignore
        # (and code differently): it must refuse the model instead. Models without stay format 1, byte for byte.
        # format 3: the indirect contexts, which a reader of format 2 does not know.
        # format 4: hashed contexts take one of 4 slots (``ways``), the match context, a third APM stage:
        # a reader of format 3 would code them as one slot and two stages.
        # format 5: two more contexts and the record's own mixer learning rate (``lr_record``).
        # format 6: the mixers select their weights by more context: the two previous bytes, contexts seen (``wide_mixers``).
        # format 7: the record's own contexts (``recw``, ``rec3``), which a reader of format 6 does not know.
        # format 8: a record leaves the shared counters primed ``freeze`` times or more alone, and a hashed
        # context's linear input is given only while its counter is young; a reader of format 7 would
        # code with both as before and decode other bytes.
        # format 9: priming also learns where records end (``ends``), so the model's frames can leave their
        # length out (frame version 4); a reader of format 8 would prime other tables.
        # format 10: the line's layout and the open brackets (``line``, ``paren``).
        # format 11: the numbers a record's earlier numbers imply (``num``), which a reader of format 10 does not know.
        # format 12: a last mixer after the APM stages (``post_mix``), which a reader of format 11 would not run.
        # format 13: a context seen once takes one slot (``once``); a reader of format 12 would prime other tables.
        # format 14: ... and keeps it while the same byte follows (``runs``): other tables again.
        # format 15: the predictor in the post mixer only (``late``): a reader of format 14 would mix it in.
        # format 16: the match models' inputs scaled while a record is coded (``match_trust``), which a reader of
        # format 15 would not scale.
        # format 17: mixers 1 and 2 choose their weights by the highest order seen (``order_sets``): other sets.
        # format 18: a fourth mixer (``mixers`` 4), by the kinds of the last three bytes, which a reader of format 17
        # refuses (its CMParams take at most 3).
        # format 19: the record's shape (the ``shape`` context: its last runs of byte kinds), which a reader of format 18
        # refuses (an unknown context).
        # format 20: a fifth mixer (``mixers`` 5: by the JSON key or the line's layout; mixer 4 by the runs of byte
        # kinds), which a reader of format 19 refuses (its CMParams take at most 4).
        # format 21: a second final mixer (``mixers`` 6), which a reader of format 20 refuses (at most 5).
        # format 22: the extra contexts read through maps (``maps``), which a reader of format 21 refuses (an unknown format).
        "format": fmt,
    }
    c = np.ascontiguousarray  # safetensors writes raw buffers: strides must be plain
    tensors: dict[str, np.ndarray] = {
        "P": c(weights.P, np.int32),
        "B1": c(weights.B1, np.int32),
        "WO": c(weights.WO, np.int8),
        "BO": c(weights.BO, np.int32),
    }
    if weights.post is not None and fmt not in FORMATS[:11]:  # format 12: the post mixer's trained weights
        tensors["POST"] = c(weights.post, np.int64)
    weights_file = canonical_safetensors(st_save(tensors, metadata=meta))
    return {WEIGHTS_FILE: weights_file, REFERENCE_FILE: zstd.ZstdCompressor(level=19).compress(reference)}


def canonical_safetensors(raw: bytes) -> bytes:
    """``raw`` with its JSON header written in one order (sorted keys, no spaces), so the same weights and
    metadata give the same bytes, and so the same artifact hash, from one build to the next. safetensors
    writes its metadata from a hash map whose order changes from process to process; a reader does not care.
    The header stays padded with spaces to a multiple of 8 bytes, as safetensors writes it."""
    n = int.from_bytes(raw[:8], "little")
    header = json.dumps(json.loads(raw[8 : 8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + raw[8 + n :]


def unpack_files(files: dict[str, bytes]) -> tuple[NeuralWeights, bytes, CMParams, bool]:
    from safetensors import SafetensorError

    try:
        tensors = st_load(files[WEIGHTS_FILE])
        header_len = int.from_bytes(files[WEIGHTS_FILE][:8], "little")
        meta = json.loads(files[WEIGHTS_FILE][8 : 8 + header_len])["__metadata__"]
        if meta.get("format") not in FORMATS:
            raise IntegrityError(f"unknown neural artifact format {meta.get('format')!r}")
        w = NeuralWeights(
            tensors["P"],
            tensors["B1"].astype(np.int64),
            tensors["WO"].astype(np.int64),
            tensors["BO"].astype(np.int64),
            int(meta["m1"]),
            int(meta["s1"]),
            int(meta["m2"]),
            tensors["POST"].astype(np.int64) if "POST" in tensors else None,
        )
        if w.post is not None and w.post.shape != (K.POST_SETS * 3,):
            raise IntegrityError(f"neural artifact's post mixer has {w.post.shape} weights, not {K.POST_SETS * 3}")
        if w.post is not None and np.abs(w.post).max() >= 2**31:  # the kernel's products must stay far inside int64
            raise IntegrityError("neural artifact's post mixer weights are out of range")
        reference = zstd.ZstdDecompressor().decompress(files[REFERENCE_FILE], max_output_size=1 << 30)
        cm = json.loads(meta["cm"])
        if meta["format"] == "nbmf-neural-1":
            cm["contexts"], cm["mixers"] = [], 2  # format 1 predates the extra contexts and mixer 3
        if meta["format"] in FORMATS[:3]:
            cm["ways"], cm["apms"] = 1, 2  # every format before 4 (its JSON has neither)
        if meta["format"] in FORMATS[:4]:
            cm["lr_record"] = 0  # every format before 5: the record learns at lr
        if meta["format"] in FORMATS[:5]:
            cm["wide_mixers"] = False  # every format before 6: the mixers select by match state, contexts seen, bit position
        if meta["format"] in FORMATS[:7]:
            cm["freeze"] = 0  # every format before 8: each counter a record sees learns from it
        if meta["format"] in FORMATS[:8]:
            cm["ends"] = False  # every format before 9: no end counters; its frames carry the length
        if meta["format"] in FORMATS[:11]:
            cm["post_mix"] = False  # every format before 12: the APM stages' average is the final probability
        if meta["format"] in FORMATS[:12]:
            cm["once"] = False  # every format before 13: a context seen once has a slot for each bit
        if meta["format"] in FORMATS[:13]:
            cm["runs"] = False  # every format before 14: a context seen twice has a slot for each bit
        if meta["format"] in FORMATS[:14]:
            cm["late"] = False  # every format before 15: the predictor is one of the mixers' inputs
        if meta["format"] in FORMATS[:21]:
            cm["maps"] = False  # every format before 22: each extra context as its counter says
        return w, reference, CMParams.model_validate(cm), bool(json.loads(meta["use_neural"]))
    except (KeyError, ValueError, TypeError, SafetensorError, zstd.ZstdError) as exc:
        raise IntegrityError(f"neural artifact is unreadable: {exc}") from None


def _code_version() -> str:
    """What priming computes depends on this code too: a primed state on disk is only reused by the same code."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        import nbmf.neural.cm as cm_mod
        import nbmf.neural.kernel as kernel_mod
        import nbmf.neural.tables as tables_mod

        h = hashlib.sha256()
        for mod in (kernel_mod, cm_mod, tables_mod):
            with open(str(mod.__file__), "rb") as f:
                h.update(f.read())
        _CODE_VERSION = h.hexdigest()[:16]
    return _CODE_VERSION


_CODE_VERSION: str | None = None


SHARE_ENV = "NBMF_PRIMED_SHARE"  # "0": a node that primes does not put the state on the shelf


def primed_state(
    files: dict[str, bytes], use_neural: bool | None = None, nn_only: bool = False, shelf: primed_cache.Shelf | None = None
) -> CMState:
    """The primed state for these files, from the nearest place that has it:

    this process (while any model holds it) -> this node's disk (``primed_cache``: a fraction of a second)
    -> the shelf (the registry: a node's first load unpacks what another node primed, ~1 s for 8 MiB)
    -> priming (3-5 µs per reference byte), after which the node keeps it and puts it on the shelf.
    ``state.source`` says which one it came from."""
    digest = hashlib.sha256(files[WEIGHTS_FILE] + files[REFERENCE_FILE]).hexdigest()
    key = f"{digest}:{use_neural}:{nn_only}"
    with _STATES_LOCK:
        st = _STATES.get(key)
        if st is not None and st.broken is not None:
            st = None  # a state left changed (CMState.broken): read it again from the disk, the shelf or priming
        if st is None:
            w, reference, cm, stored_use = unpack_files(files)
            # the predictor alone runs it, even where the build left it out of the codec (``predictor_min_gain``)
            use = True if nn_only else stored_use if use_neural is None else use_neural
            config = cm_config(cm)
            disk_key = _disk_key(digest, use, nn_only)
            st = _from(primed_cache.load(disk_key), config, w, use, nn_only, "node")
            if st is None and shelf is not None:
                blob = shelf.get(disk_key)
                st = _from(primed_cache.unpack(disk_key, blob) if blob else None, config, w, use, nn_only, "shelf")
            if st is None:
                st = CMState.build(config, reference, w, use, nn_only)
                arrays = st.arrays()
                primed_cache.save(disk_key, arrays)
                if shelf is not None and os.environ.get(SHARE_ENV, "1") != "0":
                    _share(shelf, disk_key, arrays)
            _STATES[key] = st
        return st


def adopt_state(files: dict[str, bytes], st: CMState) -> None:
    """Take ``st``, primed from exactly these files' predictor and reference, as their primed state: in this process
    while a model holds it, and on this node's disk (``nbmf.neural.build`` primes once to learn the post mixer, and the
    model it builds then loads without priming again)."""
    digest = hashlib.sha256(files[WEIGHTS_FILE] + files[REFERENCE_FILE]).hexdigest()
    use = unpack_files(files)[3]
    with _STATES_LOCK:
        _STATES[f"{digest}:None:False"] = st
        _STATES[f"{digest}:{use}:False"] = st
    primed_cache.save(_disk_key(digest, use, False), st.arrays())


def _disk_key(digest: str, use: bool, nn_only: bool) -> str:
    """A primed state's name on disk and on the shelf: the artifact, the priming code, the flags."""
    return f"{digest[:32]}-{_code_version()}-{int(use)}{int(nn_only)}"


def share(files: dict[str, bytes], shelf: primed_cache.Shelf) -> tuple[str, str]:
    """Make sure the shelf holds this model's primed state (priming it here if no one has): ``nbmf prime``.
    Returns (where the state came from, "shared" | "already shared")."""
    st = primed_state(files, shelf=shelf)
    digest = hashlib.sha256(files[WEIGHTS_FILE] + files[REFERENCE_FILE]).hexdigest()
    name = _disk_key(digest, unpack_files(files)[3], False)
    if shelf.get(name) is not None:
        return st.source, "already shared"
    with st.lock:  # coding writes into the tables (and undoes it): pack them between records
        _share(shelf, name, st.arrays(), strict=True)
    return st.source, "shared"


def _from(
    arrays: dict[str, np.ndarray] | None, config: CMConfig, w: NeuralWeights, use: bool, nn_only: bool, source: str
) -> CMState | None:
    if arrays is None or not CMState.fits(arrays, config, w, use, nn_only):
        return None
    st = CMState.from_arrays(config, w, arrays)
    st.source = source
    return st


def _share(shelf: primed_cache.Shelf, key: str, arrays: dict[str, np.ndarray], strict: bool = False) -> None:
    """Put a state this node primed on the shelf; a shelf that refuses (read-only credentials, broken
    storage) costs other nodes their priming, nothing else (``strict``: raise instead)."""
    t0 = time.perf_counter()
    try:
        blob = primed_cache.pack(arrays)
        shelf.put(key, blob)
        log.info("shared primed state %s (%.0f MB) in %.1f s", key, len(blob) / 1e6, time.perf_counter() - t0)
    except (NBMFError, OSError) as exc:
        if strict:
            raise
        log.warning("could not share primed state %s: %s", key, exc)


class NeuralCodec:
    codec_id = CodecId.NEURAL

    def __init__(self, state: CMState, model: ModelRef | None = None, reload: Callable[[], CMState] | None = None) -> None:
        self._state = state
        self.model = model
        self._reload = reload  # how to get a sound state again when this one is marked broken

    @property
    def state(self) -> CMState:
        """The primed state; one marked broken (``CMState.broken``) is read again (disk, shelf or priming)
        where the codec knows its files, so a codec held outside the model service heals too."""
        if self._state.broken is not None and self._reload is not None:
            log.error("primed state of %d reference bytes: %s; loading it again", self._state.ref_len - 1, self._state.broken)
            self._state = self._reload()
        return self._state

    @property
    def broken(self) -> str | None:
        """Why the state it holds can no longer be trusted (None while sound); reading it heals nothing."""
        return self._state.broken

    @classmethod
    def from_files(
        cls,
        files: dict[str, bytes],
        model: ModelRef | None = None,
        use_neural: bool | None = None,
        nn_only: bool = False,
        shelf: primed_cache.Shelf | None = None,
    ) -> NeuralCodec:
        def load() -> CMState:
            return primed_state(files, use_neural, nn_only, shelf)

        return cls(load(), model, load)

    def compress(self, data: bytes) -> bytes:
        return self.state.encode(data, max_out=len(data))

    def compress_unbounded(self, data: bytes, ends: bool = False) -> bytes:
        """Code even when the result is not smaller (benchmarks measure every record)."""
        return self.state.encode(data, max_out=2 * len(data) + 64, ends=ends)

    def decompress(self, payload: bytes, length: int) -> bytes:
        out = self.state.decode(payload, length)
        if len(out) != length:
            raise CodecError("neural payload decoded to the wrong length")
        return out

    @property
    def codes_ends(self) -> bool:
        """Artifact format 9: the payload can code where the record ends (a frame without its length)."""
        return self.state.codes_ends

    def compress_ends(self, data: bytes) -> bytes:
        return self.state.encode(data, max_out=len(data), ends=True)

    def decompress_ends(self, payload: bytes, max_length: int) -> bytes:
        return self.state.decode_ends(payload, max_length)

    def describe(self) -> dict[str, Any]:
        nn = self.state.nn
        return {
            "neural_params": int(nn.P.size + nn.B1.size + nn.WO.size + nn.BO.size) if nn.m2 else 0,
            "reference_bytes": self.state.ref_len - 1,
            "state_bytes": int(self.state.T.nbytes + self.state.H.nbytes + self.state.W0.nbytes),
        }
