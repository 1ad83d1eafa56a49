import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.errors import CodecError, IntegrityError
from nbmf.frame import CodecId
from nbmf.neural.build import measure_val, publish
from nbmf.neural.codec import NeuralCodec, pack_files, unpack_files
from nbmf.registry import Registry


def test_files_round_trip(tiny) -> None:  # type: ignore[no-untyped-def]
    files = pack_files(tiny.weights, tiny.reference, tiny.config.cm)
    w, ref, cm, use = unpack_files(files)
    named = tiny.config.cm.model_copy(update={"lr_record": tiny.config.cm.record_rate})  # an artifact names its rate
    assert ref == tiny.reference and cm == named and use
    for k in ("P", "B1", "WO", "BO"):
        assert np.array_equal(getattr(w, k), getattr(tiny.weights, k)), k
    bad = dict(files, **{"neural.safetensors": b"\0" * 16})
    with pytest.raises(IntegrityError):
        unpack_files(bad)


def test_the_same_weights_pack_to_the_same_bytes_in_every_process(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The artifact hash names the weights: safetensors' own header order changes from process to process."""
    files = pack_files(tiny.weights, tiny.reference, tiny.config.cm)
    (tmp_path / "w").write_bytes(files["neural.safetensors"])
    (tmp_path / "r").write_bytes(files["reference.zst"])
    again = (
        "import sys; from nbmf.neural.codec import pack_files, unpack_files; d = sys.argv[1]\n"
        "files = {'neural.safetensors': open(d + '/w', 'rb').read(), 'reference.zst': open(d + '/r', 'rb').read()}\n"
        "w, ref, cm, use = unpack_files(files)\n"
        "open(d + '/w2', 'wb').write(pack_files(w, ref, cm, use)['neural.safetensors'])\n"
    )
    for _ in range(3):
        subprocess.run([sys.executable, "-c", again, str(tmp_path)], check=True)
        assert (tmp_path / "w2").read_bytes() == files["neural.safetensors"]
    header = files["neural.safetensors"][8 : 8 + int.from_bytes(files["neural.safetensors"][:8], "little")]
    assert len(header) % 8 == 0 and list(json.loads(header)["__metadata__"]) == sorted(json.loads(header)["__metadata__"])


def test_published_model_codes_through_nbmf(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = tiny.files()
    m = measure_val(files, tiny.test, limit=10)
    assert m["val_exact"] == 1.0 and m["val_bpb_neural"] < m["val_bpb_zstd_dict"]
    reg = Registry(str(tmp_path))
    man = publish(reg, "technical", files, tiny.config, {"zstd_dict_id": None} | m)
    reg.promote("technical", man.version)
    codec = NBMF(reg)
    used = set()
    for rec in tiny.test[:15]:
        text = rec.decode()
        enc = codec.encode_record(text, domain="technical")
        used.add(enc.codec)
        assert NBMF(reg).decode(enc.frame) == text  # a fresh process-like decoder, model from the registry
    assert CodecId.NEURAL in used
    model = DomainModel.load(reg, "technical", man.version)
    assert isinstance(model.codecs[CodecId.NEURAL], NeuralCodec)


def test_neural_never_loses_a_record(tiny) -> None:  # type: ignore[no-untyped-def]
    files = tiny.files()
    from nbmf.frame import ModelRef

    ref = ModelRef.of("technical", 1, "00" * 32)
    model = DomainModel("technical", 1, ref, {CodecId.NEURAL: NeuralCodec.from_files(files, ref)})
    codec = NBMF(model=model)
    for value in [b"", b"\0" * 100, bytes(range(256)) * 3, "ünïcödé text ✓ " * 20, {"k": [1, 2, {"z": None}]}]:
        assert codec.decode(codec.encode(value)) == value


def test_mutated_neural_frames_raise_only_nbmf_errors(tiny) -> None:  # type: ignore[no-untyped-def]
    import random

    from nbmf.errors import NBMFError
    from nbmf.frame import ModelRef

    ref = ModelRef.of("technical", 1, "00" * 32)
    model = DomainModel("technical", 1, ref, {CodecId.NEURAL: NeuralCodec.from_files(tiny.files(), ref)})
    codec = NBMF(model=model)
    frames = [codec.encode(r.decode()) for r in tiny.test[:5]]
    assert any(f[0] & 0x0F == CodecId.NEURAL for f in frames)
    rng = random.Random(0)
    tried = caught = 0
    for _ in range(300):  # bounded
        f = bytearray(rng.choice(frames))
        for _ in range(rng.randint(1, 3)):
            f[rng.randrange(len(f))] = rng.getrandbits(8)
        try:
            codec.decode(bytes(f))
        except NBMFError:
            caught += 1
        tried += 1
    assert tried == 300 and caught > 250  # a mutation that survives must have hit no byte that matters


def test_artifact_format_follows_the_contexts() -> None:
    """A model with the extra contexts is format 2 (a reader that knows only format 1 refuses it rather
    than coding it without them); one without them stays format 1, byte for byte what older nbmf wrote."""
    import json as _json

    from nbmf.config import CMParams
    from nbmf.neural.cm import NeuralWeights
    from nbmf.neural.codec import WEIGHTS_FILE, cm_config, pack_files, unpack_files

    def meta(files: dict[str, bytes]) -> dict[str, str]:
        n = int.from_bytes(files[WEIGHTS_FILE][:8], "little")
        return dict(_json.loads(files[WEIGHTS_FILE][8 : 8 + n])["__metadata__"])

    # small, three mixers and before format 13; the record rate as an artifact names it (``CMParams.record_rate``)
    c18 = tuple(c for c in CMParams().contexts if c != "shape")  # every format before 19
    small: dict[str, Any] = {"table_bits": 12, "match_bits": 12, "lr_record": 16, "mixers": 3, "contexts": c18, "maps": False}
    base: dict[str, object] = {**small, "once": False, "runs": False}

    def pre8(**kw: object) -> CMParams:  # a small config of a format before 8 (no freeze, no ends, no line)
        c7 = tuple(c for c in CMParams().contexts if c not in ("line", "paren", "num", "shape"))
        return CMParams.model_validate({**base, "post_mix": False, "freeze": 0, "ends": False, "contexts": c7} | kw)

    twenty_two = pack_files(NeuralWeights.empty(), b"ref", CMParams(table_bits=12, match_bits=12, lr_record=16))
    assert meta(twenty_two)["format"] == "nbmf-neural-22"  # the defaults: the extra contexts through their maps
    assert unpack_files(twenty_two)[2] == CMParams(table_bits=12, match_bits=12, lr_record=16) and CMParams().maps
    twenty_one = pack_files(NeuralWeights.empty(), b"ref", CMParams(table_bits=12, match_bits=12, lr_record=16, maps=False))
    assert meta(twenty_one)["format"] == "nbmf-neural-21"  # a second final mixer
    assert b"maps" not in twenty_one[WEIGHTS_FILE]  # as format 21 wrote it: its readers take False
    assert CMParams().mixers == 6 and CMParams(mixers=None).mixer_count == 6  # None: a build chooses 6 or 5
    assert unpack_files(twenty_one)[2] == CMParams(table_bits=12, match_bits=12, lr_record=16, mixers=6, maps=False)  # named
    six = CMParams(table_bits=12, match_bits=12, mixers=6, order_sets=False, once=False, contexts=())  # (maps: none to map)
    assert meta(pack_files(NeuralWeights.empty(), b"ref", six))["format"] == "nbmf-neural-21"  # whatever else it has
    from nbmf.neural.cm import CMState

    kernel_cfg = [CMState._cfg(cm_config(six.model_copy(update={"maps": m})), NeuralWeights.empty(), True, False) for m in (True, False)]
    assert np.array_equal(*kernel_cfg)  # read back (maps False) it is the kernel config it was primed with
    twenty = pack_files(NeuralWeights.empty(), b"ref", CMParams(table_bits=12, match_bits=12, lr_record=16, mixers=5, maps=False))
    assert meta(twenty)["format"] == "nbmf-neural-20"  # five mixers
    assert unpack_files(twenty)[2] == CMParams(table_bits=12, match_bits=12, lr_record=16, mixers=5, maps=False)
    five = CMParams(table_bits=12, match_bits=12, mixers=5, order_sets=False, once=False, contexts=())
    assert meta(pack_files(NeuralWeights.empty(), b"ref", five))["format"] == "nbmf-neural-20"  # whatever else it has
    nineteen = pack_files(NeuralWeights.empty(), b"ref", CMParams(table_bits=12, match_bits=12, lr_record=16, mixers=4, maps=False))
    assert meta(nineteen)["format"] == "nbmf-neural-19"  # the shape context, four mixers
    assert unpack_files(nineteen)[2] == CMParams(table_bits=12, match_bits=12, lr_record=16, mixers=4, maps=False)
    shape3 = CMParams(table_bits=12, match_bits=12, mixers=3, order_sets=False, once=False, contexts=("shape",), maps=False)
    assert meta(pack_files(NeuralWeights.empty(), b"ref", shape3))["format"] == "nbmf-neural-19"  # whatever else it has
    four18: dict[str, Any] = {"table_bits": 12, "match_bits": 12, "lr_record": 16, "contexts": c18, "mixers": 4, "maps": False}
    eighteen = pack_files(NeuralWeights.empty(), b"ref", CMParams(**four18))
    assert meta(eighteen)["format"] == "nbmf-neural-18"  # four mixers, no shape
    assert unpack_files(eighteen)[2] == CMParams(**four18)
    plain4 = CMParams(table_bits=12, match_bits=12, mixers=4, order_sets=False, once=False, contexts=c18, maps=False)
    assert meta(pack_files(NeuralWeights.empty(), b"ref", plain4))["format"] == "nbmf-neural-18"  # whatever else it has
    fourteen = pack_files(NeuralWeights.empty(), b"ref", CMParams(**small))
    assert meta(fourteen)["format"] == "nbmf-neural-14"
    assert unpack_files(fourteen)[2] == CMParams(**small)
    assert b"late" not in fourteen[WEIGHTS_FILE]  # as format 14 wrote it: its readers take False
    fifteen = pack_files(NeuralWeights.empty(), b"ref", CMParams(**small, late=True))
    assert meta(fifteen)["format"] == "nbmf-neural-15"
    assert unpack_files(fifteen)[2] == CMParams(**small, late=True)
    assert b"match_trust" not in fifteen[WEIGHTS_FILE]  # as format 15 wrote it: its readers scale no match
    sixteen = pack_files(NeuralWeights.empty(), b"ref", CMParams(**small, match_trust=5))
    assert meta(sixteen)["format"] == "nbmf-neural-16" and unpack_files(sixteen)[2].match_trust == 5
    seventeen = pack_files(NeuralWeights.empty(), b"ref", CMParams(**small, order_sets=True))
    assert meta(seventeen)["format"] == "nbmf-neural-17" and unpack_files(seventeen)[2].order_sets is True
    assert b"order_sets" not in sixteen[WEIGHTS_FILE]  # as format 16 wrote it: its readers select as before
    assert unpack_files(sixteen)[2].order_sets is None  # None in an artifact: as before format 17 (``cm_config``)
    assert cm_config(unpack_files(sixteen)[2]).order_sets is False
    narrow = CMParams(**small, order_sets=True, wide_mixers=False)  # nothing to choose among
    assert meta(pack_files(NeuralWeights.empty(), b"ref", narrow))["format"] == "nbmf-neural-14"
    eight = pack_files(NeuralWeights.empty(), b"ref", CMParams(**small, match_trust=8))
    assert meta(eight)["format"] == "nbmf-neural-14"  # unscaled: nothing format 14 cannot code
    no_post = CMParams(**small, late=True, post_mix=False)  # late needs the post mixer: no say, no format 15
    assert meta(pack_files(NeuralWeights.empty(), b"ref", no_post))["format"] == "nbmf-neural-14"
    for one in ({"post_mix": False, "contexts": ()}, {"ends": False, "freeze": 0}):
        assert meta(pack_files(NeuralWeights.empty(), b"ref", CMParams.model_validate(small | one)))["format"] == "nbmf-neural-14"
    thirteen = pack_files(NeuralWeights.empty(), b"ref", CMParams(**small, runs=False))
    assert b"runs" not in thirteen[WEIGHTS_FILE]  # as format 13 wrote it: its readers take False
    assert meta(thirteen)["format"] == "nbmf-neural-13"
    assert unpack_files(thirteen)[2] == CMParams(**small, runs=False)
    twelve = pack_files(NeuralWeights.empty(), b"ref", CMParams(**base))
    assert b"once" not in twelve[WEIGHTS_FILE]  # as format 12 wrote it: its readers take False
    assert meta(twelve)["format"] == "nbmf-neural-12" and unpack_files(twelve)[2] == CMParams(**base)
    assert unpack_files(twelve)[0].post is None  # no post weights trained: the post mixer stays the identity
    for one in ({"ends": False, "contexts": ()}, {"freeze": 0, "wide_mixers": False}):
        assert meta(pack_files(NeuralWeights.empty(), b"ref", CMParams.model_validate(base | one)))["format"] == "nbmf-neural-12"
    new = pack_files(NeuralWeights.empty(), b"ref", CMParams(**base, post_mix=False))
    assert meta(new)["format"] == "nbmf-neural-11" and unpack_files(new)[2] == CMParams(**base, post_mix=False)
    assert b"post_mix" not in new[WEIGHTS_FILE]  # as format 11 wrote it: its readers take False
    for one in ({"ends": False}, {"contexts": ("num",), "freeze": 0, "wide_mixers": False}):
        cm11 = CMParams.model_validate(base | {"post_mix": False} | one)
        assert meta(pack_files(NeuralWeights.empty(), b"ref", cm11))["format"] == "nbmf-neural-11"
    c10 = tuple(c for c in CMParams().contexts if c not in ("num", "shape"))
    ten_cm = CMParams.model_validate(base | {"post_mix": False, "contexts": c10})
    ten = pack_files(NeuralWeights.empty(), b"ref", ten_cm)
    assert meta(ten)["format"] == "nbmf-neural-10" and unpack_files(ten)[2] == ten_cm
    for one in ({"ends": False}, {"contexts": ("line",), "freeze": 0, "wide_mixers": False}, {"contexts": ("paren",)}):
        cm = CMParams.model_validate({**base, "post_mix": False, "contexts": c10} | one)
        assert meta(pack_files(NeuralWeights.empty(), b"ref", cm))["format"] == "nbmf-neural-10"
    c9 = tuple(c for c in CMParams().contexts if c not in ("line", "paren", "num", "shape"))  # formats 7 to 9
    nine_cm = CMParams.model_validate(base | {"post_mix": False, "contexts": c9})
    nine = pack_files(NeuralWeights.empty(), b"ref", nine_cm)
    assert meta(nine)["format"] == "nbmf-neural-9" and unpack_files(nine)[2] == nine_cm
    for one in ({"freeze": 0}, {"contexts": ()}, {"freeze": 255, "wide_mixers": False, "lr_record": 0}):
        cm = CMParams.model_validate({**base, "post_mix": False, "contexts": c9} | one)
        assert meta(pack_files(NeuralWeights.empty(), b"ref", cm))["format"] == "nbmf-neural-9"
    eight_cm = CMParams.model_validate(base | {"post_mix": False, "ends": False, "contexts": c9})
    eight = pack_files(NeuralWeights.empty(), b"ref", eight_cm)
    assert meta(eight)["format"] == "nbmf-neural-8" and unpack_files(eight)[2] == eight_cm
    assert b"ends" not in eight[WEIGHTS_FILE]  # as format 8 wrote it: its readers take False
    for one in ({"freeze": 1}, {"freeze": 8, "contexts": ()}, {"freeze": 255, "wide_mixers": False, "lr_record": 0}):
        cm = CMParams.model_validate({**base, "post_mix": False, "ends": False, "contexts": c9} | one)
        assert meta(pack_files(NeuralWeights.empty(), b"ref", cm))["format"] == "nbmf-neural-8"
    seven_cm = pre8()
    seven = pack_files(NeuralWeights.empty(), b"ref", seven_cm)
    assert meta(seven)["format"] == "nbmf-neural-7" and unpack_files(seven)[2] == seven_cm
    assert b"freeze" not in seven[WEIGHTS_FILE]  # as format 7 wrote it: its readers take 0
    old_core = {"mixers": 2, "ways": 1, "apms": 2, "wide_mixers": False}
    for one in ({"lr_record": 0}, {"contexts": ("rec3",)}, {"contexts": ("recw",), **old_core}):
        assert meta(pack_files(NeuralWeights.empty(), b"ref", pre8(**one)))["format"] == "nbmf-neural-7"
    c6 = ("json", "word", "ind", "match", "ind3", "word3")  # formats 5 and 6
    six_cm = pre8(contexts=c6)
    six = pack_files(NeuralWeights.empty(), b"ref", six_cm)
    assert meta(six)["format"] == "nbmf-neural-6" and unpack_files(six)[2] == six_cm
    for one in ({"lr_record": 0, "contexts": c6}, {"contexts": ()}, {"mixers": 2, "ways": 1, "apms": 2, "contexts": c6}):
        assert meta(pack_files(NeuralWeights.empty(), b"ref", pre8(**one)))["format"] == "nbmf-neural-6"
    five_cm = pre8(wide_mixers=False, contexts=c6)
    five = pack_files(NeuralWeights.empty(), b"ref", five_cm)
    assert meta(five)["format"] == "nbmf-neural-5" and unpack_files(five)[2] == five_cm
    assert b"wide_mixers" not in five[WEIGHTS_FILE] and b"lr_record" in five[WEIGHTS_FILE]  # as format 5 wrote it
    for one in ({"lr_record": 0}, {"contexts": ("json", "word", "ind", "match", "ind3")}, {"contexts": ("word3",), "lr_record": 0}):
        cm5 = pre8(wide_mixers=False, **({"contexts": c6} | one))
        assert meta(pack_files(NeuralWeights.empty(), b"ref", cm5))["format"] == "nbmf-neural-5"
    four_cm = pre8(contexts=("json", "word", "ind", "match"), lr_record=0, wide_mixers=False)
    four = pack_files(NeuralWeights.empty(), b"ref", four_cm)
    assert meta(four)["format"] == "nbmf-neural-4" and unpack_files(four)[2] == four_cm
    assert b"lr_record" not in four[WEIGHTS_FILE] and b"ways" in four[WEIGHTS_FILE]  # as format 4 wrote it
    for one in ({"ways": 1, "apms": 2}, {"contexts": ("json", "word", "ind"), "ways": 1}, {"contexts": ("json", "word", "ind"), "apms": 2}):
        cm4 = pre8(**({"contexts": ("json", "word", "ind", "match"), "lr_record": 0, "wide_mixers": False} | one))
        assert meta(pack_files(NeuralWeights.empty(), b"ref", cm4))["format"] == "nbmf-neural-4"
    three_cm = pre8(contexts=("json", "word", "ind"), ways=1, apms=2, lr_record=0, wide_mixers=False)
    three = pack_files(NeuralWeights.empty(), b"ref", three_cm)
    assert meta(three)["format"] == "nbmf-neural-3" and unpack_files(three)[2].contexts == ("json", "word", "ind")
    assert (unpack_files(three)[2].ways, unpack_files(three)[2].apms, unpack_files(three)[2].lr_record) == (1, 2, 0)
    assert not any(f in three[WEIGHTS_FILE] for f in (b"ways", b"apms", b"lr_record"))  # as format 3 wrote it
    two = pack_files(
        NeuralWeights.empty(),
        b"ref",
        pre8(contexts=("json", "word"), ways=1, apms=2, lr_record=0, wide_mixers=False),
    )
    assert meta(two)["format"] == "nbmf-neural-2" and unpack_files(two)[2].contexts == ("json", "word")
    old = pack_files(
        NeuralWeights.empty(),
        b"ref",
        pre8(contexts=(), mixers=2, ways=1, apms=2, lr_record=0, wide_mixers=False),
    )
    assert meta(old)["format"] == "nbmf-neural-1"
    assert (unpack_files(old)[2].contexts, unpack_files(old)[2].mixers) == ((), 2)
    mixer3 = pack_files(NeuralWeights.empty(), b"ref", pre8(contexts=(), ways=1, apms=2, lr_record=0, wide_mixers=False))
    assert meta(mixer3)["format"] == "nbmf-neural-2" and unpack_files(mixer3)[2].mixers == 3


def test_a_broken_state_is_loaded_again(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A model whose primed state was marked broken (CMState.broken: a record's writes not undone) is
    dropped by the model service and read anew on its next use; its frames decode again."""
    from nbmf.models import ModelService

    files = tiny.files()
    reg = Registry(str(tmp_path))
    man = publish(reg, "technical", files, tiny.config, {"zstd_dict_id": None})
    reg.promote("technical", man.version)
    service = ModelService(reg)
    codec = NBMF(models=service)
    for rec in tiny.test:  # a record the neural codec wins
        text = rec.decode()
        enc = codec.encode_record(text, domain="technical")
        if enc.codec == CodecId.NEURAL:
            break
    assert enc.codec == CodecId.NEURAL
    first = service.load("technical", man.version)
    broken = first.codecs[CodecId.NEURAL].state  # type: ignore[attr-defined]
    broken.broken = "a test"
    again = service.load("technical", man.version)
    assert again is not first and again.broken is None
    assert again.codecs[CodecId.NEURAL].state is not broken  # type: ignore[attr-defined]
    assert codec.decode(enc.frame) == text


def test_a_codec_held_outside_the_model_service_heals(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``NBMF(model=...)`` holds its model itself: when its primed state is marked broken, the neural codec
    reads a sound state again on its next record, so it keeps coding neural frames that decode anywhere."""
    files = tiny.files()
    reg = Registry(str(tmp_path))
    man = publish(reg, "technical", files, tiny.config, {"zstd_dict_id": None})
    model = DomainModel.load(reg, "technical", man.version)
    codec = NBMF(model=model)
    texts = [r.decode() for r in tiny.test[:15]]
    before = [codec.encode_record(t, domain="technical") for t in texts]
    assert CodecId.NEURAL in {e.codec for e in before}
    neural = model.codecs[CodecId.NEURAL]
    old = neural.state  # type: ignore[attr-defined]
    old.broken = "a test"
    assert model.broken == "a test"  # reading why heals nothing
    after = [codec.encode_record(t, domain="technical") for t in texts]
    assert neural.state is not old and model.broken is None  # type: ignore[attr-defined]
    assert [e.frame for e in after] == [e.frame for e in before]  # the same frames as from a sound state
    fresh = NBMF(reg)
    assert [fresh.decode(e.frame) for e in after] == texts
    from nbmf import frame as fr

    # published here, so its registry numbered it: its neural frames name it by serial (version 5)
    assert man.serial == 1 and {fr.unpack(e.frame)[0].version for e in after if e.codec is CodecId.NEURAL} == {5}


def test_frames_of_a_format_9_model_carry_no_length(tiny) -> None:  # type: ignore[no-untyped-def]
    """Format 9 models write version 4 frames: 7 header bytes (no length), the payload codes the end;
    ``frame_version=3`` (readers not yet upgraded) still writes the length; every frame decodes."""
    from nbmf import frame as fr
    from nbmf.errors import NBMFError
    from nbmf.frame import ModelRef

    ref = ModelRef.of("technical", 1, "00" * 32)
    model = DomainModel("technical", 1, ref, {CodecId.NEURAL: NeuralCodec.from_files(tiny.files(), ref)})
    assert model.codecs[CodecId.NEURAL].codes_ends  # type: ignore[attr-defined]
    new, old = NBMF(model=model), NBMF(model=model, frame_version=3)
    saved = 0
    for rec in tiny.test[:10]:
        text = rec.decode()
        v4, v3 = new.encode_record(text), old.encode_record(text)
        if v4.codec is not CodecId.NEURAL:
            continue
        header, _ = fr.unpack(v4.frame)
        assert header.version == 4 and header.length is None and fr.unpack(v3.frame)[0].version == 3
        assert new.decode(v4.frame) == old.decode(v4.frame) == new.decode(v3.frame) == text
        saved += len(v3.frame) - len(v4.frame)
        with pytest.raises(NBMFError):  # the frame cut short: an error, never other bytes
            new.decode(v4.frame[:-2])
    assert saved > 0
    small = NBMF(model=model, max_record_bytes=50)  # a frame without a length still cannot exceed the limit
    long = next(r.decode() for r in tiny.test if len(r) > 200)
    frame = new.encode(long)
    if fr.unpack(frame)[0].version == 4:
        with pytest.raises(NBMFError, match="does not end within 50"):
            small.decode(frame)


def test_the_post_mixer_learns_on_val_and_travels_with_the_artifact(tiny) -> None:  # type: ignore[no-untyped-def]
    """Format 12: the build gives the artifact post mixer weights (learned on val records, or the identity where
    learning did not code val smaller); ``learn_post`` learns; the artifact carries what it learned bit for bit; a state
    primed from it codes with them and a record leaves them as they were; the codec without its predictor keeps the
    identity, so it codes as format 11 did."""
    import dataclasses

    from nbmf.neural import kernel as K
    from nbmf.neural.cm import CMState
    from nbmf.neural.codec import cm_config, unpack_files

    w, ref, cm, _ = unpack_files(tiny.files())
    identity = np.tile(np.array([65536, 0, 0], np.int64), K.POST_SETS)
    assert cm.post_mix and w.post is not None and w.post.shape == identity.shape
    plain = CMState.build(cm_config(cm), ref, dataclasses.replace(w, post=None))
    assert np.array_equal(plain.post, identity)  # priming leaves the post mixer alone
    learned = plain.learn_post(tiny.test[:20], 5)
    assert not np.array_equal(learned, identity)
    plain.post[:] = identity
    w = unpack_files(pack_files(dataclasses.replace(w, post=learned), ref, cm))[0]
    assert w.post is not None and np.array_equal(w.post, learned)
    with pytest.raises(IntegrityError, match="post mixer"):  # a damaged artifact is refused, not coded with
        unpack_files(pack_files(dataclasses.replace(w, post=learned[:-3]), ref, cm))
    with pytest.raises(IntegrityError, match="post mixer"):
        unpack_files(pack_files(dataclasses.replace(w, post=learned * 2**40), ref, cm))
    st = CMState.build(cm_config(cm), ref, w)
    assert np.array_equal(st.post, learned)
    test = tiny.test[20:30]
    coded = [st.encode(x, 2 * len(x) + 64) for x in test]
    assert [st.decode(c, len(x)) for c, x in zip(coded, test)] == test
    assert coded != [plain.encode(x, 2 * len(x) + 64) for x in test]  # the learned weights are used
    assert np.array_equal(st.post, learned)  # coding leaves them as the artifact has them
    core = CMState.build(cm_config(cm), ref, w, use_nn=False)
    assert np.array_equal(core.post, identity)
    old = CMState.build(dataclasses.replace(cm_config(cm), post_mix=False), ref, w, use_nn=False)
    assert [core.encode(x, 2 * len(x) + 64) for x in test] == [old.encode(x, 2 * len(x) + 64) for x in test]


def test_the_post_mixers_rate_is_chosen_on_records_it_did_not_learn_from(tiny) -> None:  # type: ignore[no-untyped-def]
    """``post_folds``: no val record is both learned from and checked on (a rate learned on its own check records looks
    better than it is, and so does the predictor beside the codec without it). With few val records each half is
    checked with the weights learned on the other; the rate chosen is then learned on every val record, and the sizes
    the build reports (and compares the codec without its predictor with) are those cross-checked ones."""
    import dataclasses
    import re

    from nbmf.neural import kernel as K
    from nbmf.neural.build import POST_CHECK, POST_RECORDS, build_files, learn_post, post_folds
    from nbmf.neural.cm import CMState
    from nbmf.neural.codec import cm_config

    for n in (0, 1, 2, 7, 40, POST_RECORDS + POST_CHECK - 1, POST_RECORDS + POST_CHECK, 2000):
        val = [str(i).encode() for i in range(n)]
        folds = post_folds(val)
        assert all(not set(learn) & set(check) for learn, check in folds)
        checked = [r for _, check in folds for r in check]
        if n >= POST_RECORDS + POST_CHECK:  # as before: the last ones learned, the first ones checked
            assert folds == [(val[-POST_RECORDS:], val[:POST_CHECK])]
        else:  # every record checked once, with weights learned on the others
            assert sorted(checked) == sorted(val) and all(len(learn) + len(check) == n for learn, check in folds if learn)

    given = tiny.config.cm.model_copy(update={"order_sets": False, "match_trust": 8, "lr_record": 16})
    cfg = tiny.config.model_copy(update={"cm": given})
    val = tiny.test[:CHECK]
    said: list[str] = []
    w, _ = learn_post(tiny.weights, tiny.reference, cfg, val, said.append)
    line = next(s for s in said if s.startswith("post mixer learned on each half of 12 val records"))
    reported = {int(r or 0): int(b) for r, b in re.findall(r"(?:rate (\d+)|identity): (\d+) bytes", line)}
    st = CMState.build(cm_config(given), tiny.reference, dataclasses.replace(tiny.weights, post=None))
    identity = st.post.copy()
    expected = {0: sum(len(st.encode(r, 2 * len(r) + 64)) for r in val)}
    for rate in K.POST_RATES:
        expected[rate] = 0
        for learn, check in post_folds(val):
            st.post[:] = identity
            st.learn_post(learn, rate)
            expected[rate] += sum(len(st.encode(r, 2 * len(r) + 64)) for r in check)
    assert reported == expected, line
    best = min(expected, key=lambda r: (expected[r], r))
    st.post[:] = identity
    assert w.post is not None and np.array_equal(w.post, st.learn_post(val, best) if best else identity)
    _, metrics = build_files(tiny.train, val, cfg, tiny.weights)  # a build says the same in its metrics
    assert metrics["post_rate"] == best and metrics["post_folds"] == 2 and metrics["post_checked_records"] == CHECK
    assert metrics["post_rate_bytes"] == {(f"rate {r}" if r else "identity"): n for r, n in expected.items()}


def test_a_late_predictor_speaks_in_the_post_mixer_only(tiny) -> None:  # type: ignore[no-untyped-def]
    """Format 15: with ``late`` the mixers never see the predictor, so with the post mixer at the identity a record
    codes exactly as the codec without its predictor codes it; with learned post weights the predictor has its say
    there, and records round-trip."""
    import dataclasses

    from nbmf.neural.cm import CMState
    from nbmf.neural.codec import cm_config, unpack_files

    w, ref, cm, _ = unpack_files(tiny.files())
    late = dataclasses.replace(cm_config(cm), late=True)
    silent = CMState.build(late, ref, dataclasses.replace(w, post=None))
    core = CMState.build(cm_config(cm), ref, w, use_nn=False)
    test = tiny.test[20:30]
    assert [silent.encode(x, 2 * len(x) + 64) for x in test] == [core.encode(x, 2 * len(x) + 64) for x in test]
    silent.post[:] = silent.learn_post(tiny.test[:20], 5)
    coded = [silent.encode(x, 2 * len(x) + 64) for x in test]
    assert coded != [core.encode(x, 2 * len(x) + 64) for x in test]
    assert [silent.decode(c, len(x)) for c, x in zip(coded, test)] == test
    with pytest.raises(CodecError, match="post mixer"):
        CMState.build(dataclasses.replace(late, post_mix=False), ref, w)


# The build-choice tests below give a build this many val records (it learns the post mixer on them and codes them to
# choose): each choice is then a few passes over a few KB, and a choice the test is not about is given (one priming).
CHECK = 12


def _one_priming(cfg: Any) -> Any:
    """``cfg`` with the mixers' order sets given (an open choice is one more priming)."""
    return cfg.model_copy(update={"cm": cfg.cm.model_copy(update={"order_sets": False})})


def test_the_build_places_the_predictor_where_it_codes_val_smaller(tiny) -> None:  # type: ignore[no-untyped-def]
    """``predictor_place``: 'post' builds a format 15 artifact; 'best' primes both and keeps the smaller on the check
    records, and says what each coded."""
    from nbmf.neural.build import build_files
    from nbmf.neural.codec import unpack_files

    cfg = _one_priming(tiny.config)
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg.model_copy(update={"predictor_place": "best"}), tiny.weights)
    sizes = metrics["predictor_place_bytes"]
    assert set(sizes) == {"mixers", "post"} and all(n > 0 for n in sizes.values())
    assert metrics["predictor_place"] == min(sizes, key=lambda k: (sizes[k], k == "post"))
    assert unpack_files(files)[2].late == (metrics["predictor_place"] == "post")
    post, m = build_files(tiny.train, tiny.test[:CHECK], cfg.model_copy(update={"predictor_place": "post"}), tiny.weights)
    assert unpack_files(post)[2].late and m["predictor_place"] == "post" and "predictor_place_bytes" not in m


def test_the_build_chooses_the_match_models_trust_on_val(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An open ``match_trust``: the build codes the check records at each of ``TRUSTS`` and keeps the smallest (the
    larger trust on a tie); the artifact codes with it (format 16 below 8) and the published config names it. A trust
    given is kept, untried."""
    from nbmf.neural.build import TRUSTS, build_files
    from nbmf.neural.codec import artifact_format, unpack_files

    cfg = tiny.config.model_copy(update={"cm": tiny.config.cm.model_copy(update={"match_trust": None, "order_sets": False})})
    said: list[str] = []
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg, tiny.weights, said.append)
    choosing = [s for s in said if s.endswith(f"; the post mixer on {CHECK} val records")]
    assert len(choosing) == 1 and "choosing match trust, " in choosing[0], said  # the build says what it chooses
    sizes = metrics["match_trust_bytes"]
    assert tuple(sizes) == TRUSTS and all(n > 0 for n in sizes.values())
    assert metrics["match_trust"] == min(sizes, key=lambda t: (sizes[t], -t))
    cm = unpack_files(files)[2]
    assert (cm.match_trust or 8) == metrics["match_trust"]
    c18 = tuple(c for c in cm.contexts if c != "shape")  # without format 19's context and 18's mixer, and
    old = cm.model_copy(update={"order_sets": False, "mixers": 3, "contexts": c18, "maps": False})  # the build chose the order sets (17)
    assert artifact_format(old) == ("nbmf-neural-16" if metrics["match_trust"] < 8 else "nbmf-neural-14")
    man = publish(Registry(str(tmp_path)), "general", files, cfg, metrics)
    assert man.config["cm"]["match_trust"] == metrics["match_trust"]
    given = cfg.model_copy(update={"cm": cfg.cm.model_copy(update={"match_trust": 3})})
    said.clear()
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], given, tiny.weights, said.append)
    assert "match_trust_bytes" not in metrics and unpack_files(files)[2].match_trust == 3
    choosing = [s for s in said if s.endswith(f"; the post mixer on {CHECK} val records")]
    assert len(choosing) == 1 and "match trust" not in choosing[0], said  # a trust given is not said to be chosen


def test_a_build_without_a_predictor_still_makes_its_choices_on_val(tiny) -> None:  # type: ignore[no-untyped-def]
    """``use_neural`` false (``nbmf build --no-neural``, or a domain's ``model_by_domain``): no predictor, and the
    build makes the choices it makes with one on the check records (here the match models' trust), where before it
    left them open; the post mixer, which has no predictor to weigh, stays the identity."""
    from nbmf.neural.build import TRUSTS, build_files
    from nbmf.neural.codec import NeuralCodec, unpack_files

    cm = tiny.config.cm.model_copy(update={"match_trust": None, "order_sets": False})
    cfg = tiny.config.model_copy(update={"use_neural": False, "cm": cm})
    said: list[str] = []
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg, None, said.append)
    assert metrics["predictor_place"] == "none" and tuple(metrics["match_trust_bytes"]) == TRUSTS
    assert any("(no predictor, order sets off" in s for s in said) and any(s.startswith("no predictor: ") for s in said), said
    assert not any("post mixer learned" in s for s in said)
    _, _, packed, use_neural = unpack_files(files)
    assert not use_neural and (packed.match_trust or 8) == metrics["match_trust"]
    nc = NeuralCodec.from_files(files)
    assert (nc.state.post.reshape(-1, 3) == (65536, 0, 0)).all()
    for r in tiny.test[CHECK : CHECK + 5]:
        assert nc.state.decode(nc.state.encode(r, len(r) + 64), len(r)) == r


def test_a_predictor_that_does_not_earn_its_place_is_left_out(tiny) -> None:  # type: ignore[no-untyped-def]
    """``predictor_min_gain``: once its choices are made the build primes once more without the predictor and keeps it
    only where it codes the check records that fraction smaller; else the artifact codes without it (its weights stay
    in the files) and is the state the build chose with."""
    from nbmf.config import ModelConfig
    from nbmf.neural.build import build_files
    from nbmf.neural.codec import NeuralCodec, unpack_files

    given = tiny.config.cm.model_copy(update={"order_sets": False, "match_trust": 8, "lr_record": 16})  # one priming each way
    cfg = tiny.config.model_copy(update={"predictor_min_gain": 1.0, "cm": given})  # 100 %: no predictor earns that
    said: list[str] = []
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg, tiny.weights, said.append)
    check = metrics["predictor_check_bytes"]
    assert metrics["predictor_left_out"] is True and metrics["predictor_place"] == "none"
    assert metrics["predictor_gain"] == round((check["without"] - check["with"]) / check["without"], 5)
    verdict = [s for s in said if s.startswith("the predictor codes the check records ")]
    assert len(verdict) == 1 and verdict[0].endswith("under the 100 % it must earn: left out"), said
    plan = [s for s in said if s.startswith("the build primes ")]  # said first: as many primings as it then makes
    primings = [s for s in said if s.startswith(("priming on ", "priming the shipped "))]
    assert len(plan) == 1 and said.index(plan[0]) < said.index(primings[0]), said
    assert plan[0].startswith(f"the build primes {len(primings)} times on about ") and "1 without the predictor" in plan[0], said
    weights, _, _, use_neural = unpack_files(files)
    assert not use_neural and weights.m2 == tiny.weights.m2  # the trained weights travel along, unused
    nc = NeuralCodec.from_files(files)
    assert sum(len(nc.state.encode(r, len(r) + 64)) for r in tiny.test[:CHECK]) == check["without"]  # the state it chose with
    assert (nc.state.post.reshape(-1, 3) == (65536, 0, 0)).all()
    alone = NeuralCodec.from_files(files, nn_only=True).state  # the bench's "predictor alone" still runs it
    assert sum(len(alone.encode(r, 2 * len(r) + 64)) for r in tiny.test[:CHECK]) < 0.8 * sum(map(len, tiny.test[:CHECK]))
    # the default asks 1 %: kept or not by what the check records say
    cfg = cfg.model_copy(update={"predictor_min_gain": ModelConfig().predictor_min_gain})
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg, tiny.weights)
    left_out = metrics["predictor_left_out"]
    assert left_out == (metrics["predictor_gain"] < 0.01) and unpack_files(files)[3] == (not left_out)


def test_the_build_says_how_many_primings_it_will_make() -> None:
    """A build of the default config (order sets open, the predictor's check, the val records joining the shipped
    reference) primes four times, the first two at once where it has two threads; each choice left open adds its own."""
    from nbmf.config import ModelConfig
    from nbmf.neural.build import MIXER_CHOICES, build_plan

    cfg = ModelConfig()
    assert build_plan(cfg, [b"v"], 14 << 20, True, 2) == (
        "the build primes 4 times on about 14.0 MiB: 2 to choose the order sets (2 at once); 1 without the predictor; "
        "1 of the shipped reference, the val records in it"
    )
    given = cfg.model_copy(update={"cm": cfg.cm.model_copy(update={"order_sets": True}), "predictor_min_gain": None})
    assert build_plan(given, [b"v"], 1 << 20, False) == "the build primes 1 time on about 1.0 MiB: 1 with the place and order sets given"
    no_check = cfg.model_copy(update={"cm": given.cm})
    assert build_plan(given, [], 1 << 20, False) == build_plan(no_check, [], 1 << 20, False)  # no val records: no check
    wide = cfg.model_copy(update={"predictor_place": "best", "cm": cfg.cm.model_copy(update={"mixers": None})})
    plan = build_plan(wide, [b"v"], 1 << 20, False)
    assert plan.startswith("the build primes 6 times ") and f"{len(MIXER_CHOICES) - 1} for the other mixer counts" in plan
    assert "4 to choose the predictor's place and the order sets;" in plan


def test_the_build_chooses_the_mixers_order_sets_on_val(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Open ``order_sets``: the build primes with the mixers' order sets (format 17) and without, codes the check
    records with each and keeps the smaller (without, on a tie); the artifact and the published config say which. Order
    sets given are kept, untried."""
    from nbmf.neural.build import build_files
    from nbmf.neural.codec import artifact_format, unpack_files

    assert tiny.config.cm.order_sets is None  # the default: the build chooses
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], tiny.config, tiny.weights)
    sizes = metrics["order_sets_bytes"]
    assert set(sizes) == {"on", "off"} and all(n > 0 for n in sizes.values())
    assert metrics["order_sets"] == (sizes["on"] < sizes["off"])
    cm = unpack_files(files)[2]
    assert bool(cm.order_sets) is metrics["order_sets"]  # (off: a format before 17, which leaves it out)
    c18 = tuple(c for c in cm.contexts if c != "shape")
    older = cm.model_copy(update={"mixers": 3, "contexts": c18, "maps": False})  # without formats 18-22's features
    assert (artifact_format(older) == "nbmf-neural-17") is metrics["order_sets"]
    man = publish(Registry(str(tmp_path)), "general", files, tiny.config, metrics)
    assert man.config["cm"]["order_sets"] is metrics["order_sets"]
    for given in (True, False):
        cfg = tiny.config.model_copy(update={"cm": tiny.config.cm.model_copy(update={"order_sets": given})})
        files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg, tiny.weights)
        assert "order_sets_bytes" not in metrics and bool(unpack_files(files)[2].order_sets) is given


def test_a_build_priming_its_choices_at_once_makes_the_same_files(tiny) -> None:  # type: ignore[no-untyped-def]
    """``threads`` 2: the first choices' primings (here place x order sets: four) run two at a time, and the build
    chooses the same, in the same files, with the same sizes said, as one priming at a time; every line is labelled."""
    from nbmf.neural.build import build_files, build_threads

    cfg = tiny.config.model_copy(update={"predictor_place": "best"})
    assert cfg.cm.order_sets is None
    said: dict[int, list[str]] = {1: [], 2: []}
    built = {n: build_files(tiny.train, tiny.test[:CHECK], cfg, tiny.weights, said[n].append, threads=n) for n in (1, 2)}
    (files1, m1), (files2, m2) = built[1], built[2]
    assert files1 == files2
    drop = ("build_s",)
    assert {k: v for k, v in m1.items() if k not in drop} == {k: v for k, v in m2.items() if k not in drop}
    assert set(m1["order_sets_bytes"]) == {"on", "off"} and set(m1["predictor_place_bytes"]) == {"mixers", "post"}
    primings = [s for s in said[2] if "priming on" in s]
    assert len(primings) == 4 and all(s.startswith("[") for s in primings)
    labels = {"[order sets off", "[order sets on", "[post mixer only, order sets off", "[post mixer only, order sets on"}
    assert {s.split("]")[0] for s in primings} == labels
    assert not any(s.startswith("[") for s in said[1])
    assert [build_threads(c) for c in (0.5, 1, 1.9, 2, 16)] == [1, 1, 1, 2, 2]


def test_the_val_records_join_the_shipped_reference_once_the_choices_are_made(tiny) -> None:  # type: ignore[no-untyped-def]
    """``val_in_reference`` (the default; the tiny model leaves it off): the build makes its choices and learns the post
    mixer with the val records held out, then primes once more on a reference that holds them too (a val record train
    already holds, once): the artifact's. Its val figures are the held-out state's, so they equal those of a build that
    leaves val out; the shipped state codes the val records smaller (it has seen them) and held-out records exactly."""
    import numpy as np

    from nbmf.neural.build import build_files, select_reference
    from nbmf.neural.codec import NeuralCodec, unpack_files

    val = [*tiny.test[:CHECK], tiny.train[0]]
    cfg = _one_priming(tiny.config)
    assert not cfg.val_in_reference
    said: list[str] = []
    joined, m = build_files(tiny.train, val, cfg.model_copy(update={"val_in_reference": True}), tiny.weights, said.append)
    apart, m0 = build_files(tiny.train, val, cfg, tiny.weights)
    w, ref, cm, _ = unpack_files(joined)
    assert ref == select_reference([*tiny.train, *tiny.test[:CHECK]], cfg.reference_bytes) and unpack_files(apart)[1] == tiny.reference
    assert m["reference_bytes"] == len(ref) > m["reference_held_out_bytes"] == m0["reference_bytes"] == len(tiny.reference)
    assert m["val_bpb_neural"] == m0["val_bpb_neural"] and m["val_exact"] == m0["val_exact"] == 1.0
    assert cm == unpack_files(apart)[2] and np.array_equal(w.post, unpack_files(apart)[0].post)  # the same choices
    assert any(s.startswith("priming the shipped reference") for s in said)
    own, held_out = NeuralCodec.from_files(joined).state, NeuralCodec.from_files(apart).state
    size = lambda st, recs: sum(len(st.encode(r, 2 * len(r) + 64)) for r in recs)  # noqa: E731
    assert size(own, tiny.test[:CHECK]) < size(held_out, tiny.test[:CHECK])
    for r in tiny.test[CHECK : CHECK + 6]:
        assert own.decode_ends(own.encode(r, 2 * len(r) + 64, ends=True), len(r)) == r


def test_the_build_chooses_the_mixers_on_val(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Open ``mixers`` (None; the default is 6): after the order sets, the build primes with each of ``MIXER_CHOICES`` (format 21's six,
    then format 20's five), codes the check records with each and keeps the smaller (six on a tie); the artifact, its
    format and the published config say which. A count given is kept, untried."""
    from nbmf.neural.build import MIXER_CHOICES, build_files
    from nbmf.neural.codec import artifact_format, unpack_files

    assert tiny.config.cm.mixers == 6  # the default: six, untried
    cfg = tiny.config.model_copy(update={"cm": tiny.config.cm.model_copy(update={"order_sets": True, "mixers": None})})
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg, tiny.weights)
    sizes = metrics["mixers_bytes"]
    assert tuple(sizes) == MIXER_CHOICES == (6, 5) and all(n > 0 for n in sizes.values())
    assert metrics["mixers"] == min(sizes, key=lambda m: (sizes[m], -m))
    cm = unpack_files(files)[2]
    assert cm.mixers == metrics["mixers"] and artifact_format(cm) == "nbmf-neural-22"  # with the maps, either count
    assert artifact_format(cm.model_copy(update={"maps": False})) == f"nbmf-neural-{15 + cm.mixers}"  # without: 21 or 20
    man = publish(Registry(str(tmp_path)), "legal", files, cfg, metrics)
    assert man.config["cm"]["mixers"] == metrics["mixers"]
    for given in (6, 5, 4):
        c = cfg.model_copy(update={"cm": cfg.cm.model_copy(update={"mixers": given})})
        files, metrics = build_files(tiny.train, tiny.test[:CHECK], c, tiny.weights)
        assert "mixers_bytes" not in metrics and unpack_files(files)[2].mixers == metrics["mixers"] == given


def test_the_build_chooses_the_record_rate_on_val(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An open ``lr_record`` (the default): after the trust, the build codes the check records at each of
    ``RECORD_RATES`` on the one primed state and keeps the smallest (the first on a tie); the artifact and the published
    config name it. A rate given is kept, untried; an artifact packed outside a build names ``RECORD_RATE``."""
    from nbmf.config import RECORD_RATE
    from nbmf.neural.build import RECORD_RATES, build_files
    from nbmf.neural.cm import NeuralWeights
    from nbmf.neural.codec import pack_files, unpack_files

    assert tiny.config.cm.lr_record is None  # the default: the build chooses
    cfg = tiny.config.model_copy(update={"cm": tiny.config.cm.model_copy(update={"order_sets": False})})  # one priming
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], cfg, tiny.weights)
    sizes = metrics["lr_record_bytes"]
    assert tuple(sizes) == RECORD_RATES and all(n > 0 for n in sizes.values())
    assert metrics["lr_record"] == min(sizes, key=lambda r: (sizes[r], RECORD_RATES.index(r)))
    assert unpack_files(files)[2].lr_record == metrics["lr_record"]
    man = publish(Registry(str(tmp_path)), "technical", files, cfg, metrics)
    assert man.config["cm"]["lr_record"] == metrics["lr_record"]
    given = cfg.model_copy(update={"cm": cfg.cm.model_copy(update={"lr_record": 12})})
    files, metrics = build_files(tiny.train, tiny.test[:CHECK], given, tiny.weights)
    assert "lr_record_bytes" not in metrics and unpack_files(files)[2].lr_record == metrics["lr_record"] == 12
    assert unpack_files(pack_files(NeuralWeights.empty(), b"ref", tiny.config.cm))[2].lr_record == RECORD_RATE


def test_the_tables_are_sized_by_the_reference_and_the_artifact_names_the_size(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from nbmf.config import (
        LARGE_REFERENCE,
        MATCH_BITS,
        MATCH_LARGE_REFERENCE,
        RECORD_RATE,
        SMALL_REFERENCE,
        TABLE_BITS,
        CMParams,
        ModelConfig,
    )
    from nbmf.neural.build import build_files, sized
    from nbmf.neural.cm import NeuralWeights

    auto = CMParams()
    assert auto.table_bits is None and auto.sized_for(LARGE_REFERENCE).table_bits == TABLE_BITS == 23
    assert auto.sized_for(LARGE_REFERENCE + 1).table_bits == 24
    assert auto.match_bits is None and auto.sized_for(MATCH_LARGE_REFERENCE).match_bits == MATCH_BITS == 22
    assert auto.sized_for(MATCH_LARGE_REFERENCE + 1).match_bits == 24
    given = CMParams(table_bits=16, match_bits=12).sized_for(LARGE_REFERENCE + 1)  # sizes given are kept
    assert (given.table_bits, given.match_bits) == (16, 12)
    # the artifact always names its sizes: open ones are closed by its reference
    named = auto.sized_for(3).model_copy(update={"lr_record": RECORD_RATE})  # and its record rate (forty-fourth session)
    assert unpack_files(pack_files(NeuralWeights.empty(), b"ref", auto))[2].model_dump() == named.model_dump()
    assert (auto.sized_for(3).table_bits, auto.sized_for(3).match_bits) == (18, 16)  # a tiny reference: the smallest
    # a small one (a user's few hundred records): 4-8 counters and 2-4 positions per byte; none (cm_config): the defaults
    assert (auto.sized_for(657_554).table_bits, auto.sized_for(657_554).match_bits) == (22, 21)
    assert (auto.sized_for(SMALL_REFERENCE - 1).table_bits, auto.sized_for(SMALL_REFERENCE).table_bits) == (22, TABLE_BITS)
    assert (auto.sized_for(0).table_bits, auto.sized_for(0).match_bits) == (TABLE_BITS, MATCH_BITS)
    assert unpack_files(pack_files(NeuralWeights.empty(), b"ref", CMParams(table_bits=12, match_bits=12)))[2].table_bits == 12
    # a build chooses by its reference, and the version it publishes says what it chose
    cfg = ModelConfig(use_neural=False, reference_bytes=4096, dict_bytes=1024, cm=CMParams(post_mix=False))
    train = [f"record {i}: the same words again and again, {i * 7}".encode() for i in range(200)]
    files, metrics = build_files(train, train[:5], cfg)
    chose = auto.sized_for(metrics["reference_bytes"])
    assert metrics["table_bits"] == chose.table_bits == unpack_files(files)[2].table_bits < TABLE_BITS
    assert metrics["match_bits"] == chose.match_bits == unpack_files(files)[2].match_bits < MATCH_BITS
    man = publish(Registry(str(tmp_path)), "technical", files, cfg, metrics)
    assert (man.config["cm"]["table_bits"], man.config["cm"]["match_bits"]) == (chose.table_bits, chose.match_bits)
    assert sized(cfg, LARGE_REFERENCE + 1).cm.table_bits == 24 and cfg.cm.table_bits is None
