import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbmf import frame as fr
from nbmf.artifact import DomainModel
from nbmf.codec import NBMF
from nbmf.codecs.zstd_dict import ZstdDictCodec
from nbmf.errors import ChecksumError, FrameError, ModelNotFoundError, NBMFError, OversizeError
from nbmf.frame import CodecId
from nbmf.payload import Fidelity, PayloadType, canonical

sys.path.insert(0, str(Path(__file__).parents[1] / "golden"))
from make_golden import CASES, golden_model, golden_neural_model, golden_path  # noqa: E402

codec = NBMF(model=golden_model())
plain = NBMF()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=15,
)
payloads = st.one_of(
    st.tuples(st.just(PayloadType.STR), st.text()),
    st.tuples(st.just(PayloadType.BYTES), st.binary()),
    st.tuples(st.just(PayloadType.JSON), json_values),
)


@settings(max_examples=150)
@given(payloads, st.sampled_from(list(Fidelity)))
def test_round_trip_every_type_and_fidelity(tv: tuple[PayloadType, object], fid: Fidelity) -> None:
    ptype, value = tv
    for c in (codec, plain):
        frame = c.encode(value, fid, ptype, "golden")
        d = c.decode_record(frame)
        assert d.value == canonical(value, ptype, fid)
        assert d.payload_type is ptype and d.fidelity is fid
        if fid is Fidelity.LOSSLESS:
            assert d.value == value and type(d.value) is type(value)


# a version 4 or 5 frame holds only the neural codec (its payload codes the record's end): those golden frames
# were coded by the committed format 10 model (registry serial 3); their stub and stored frames are version 3
@pytest.mark.parametrize("version", fr.READ_VERSIONS)
def test_golden_frames_still_decode_and_encode_the_same_header(version: int) -> None:
    golden = json.loads(golden_path(version).read_text())
    model = golden_model() if version < fr.ENDS_VERSION else golden_neural_model()
    writer, reader = NBMF(model=model, frame_version=version), NBMF(model=model)
    assert len(golden) == len(CASES)
    versions = set()
    for g in golden:
        value = bytes.fromhex(g["value"]) if g["type"] == "bytes" else g["value"]
        frame = bytes.fromhex(g["frame"])
        header = fr.unpack(frame)[0]
        versions.add(header.version)
        assert header.version == version or (version >= fr.ENDS_VERSION and header.codec is not CodecId.NEURAL and header.version == 3)
        assert reader.decode(frame) == canonical(value, PayloadType.parse(g["type"]), Fidelity.parse(g["fidelity"]))
        again = writer.encode(value, g["fidelity"], g["type"], "golden")
        assert again[:12] == frame[:12], "frame header layout changed: make a new frame version and document it"
        if header.codec is CodecId.NEURAL:
            assert again == frame  # the neural payload too, bit for bit
    assert version in versions


def test_v5_frames_are_a_byte_shorter_than_v4_and_name_the_model_by_its_serial() -> None:
    model = golden_neural_model()
    text = "the licensee shall keep every copyright notice intact in all copies of the software " * 3
    v4, v5 = (NBMF(model=model, frame_version=v).encode(text) for v in (4, 5))
    assert len(v5) == len(v4) - 1 and fr.unpack(v5)[0].model == fr.ModelRef.by_serial(3)
    assert NBMF(model=model).encode(text) == v5  # the default
    assert NBMF(model=model).decode(v4) == NBMF(model=model).decode(v5) == text
    decoded = NBMF(model=model).decode_record(v5)  # says which version decoded it, not only the serial
    assert decoded.model == model.ref and decoded.model is not None and (decoded.model.version, decoded.model.serial) == (1, 3)
    unnumbered = golden_neural_model(serial=None)  # published before serials: version 4
    assert NBMF(model=unnumbered).encode(text) == v4 and NBMF(model=unnumbered).decode(v4) == text


def test_later_frame_versions_are_shorter_and_keyed_by_the_artifact() -> None:
    text = "the party agreement license shall any software notice " * 8  # 440 bytes: v3 saves its byte
    v1, v2, v3 = (NBMF(model=golden_model(), frame_version=v).encode(text) for v in (1, 2, 3))
    assert len(v2) == len(v1) - 2 and len(v3) == len(v2) - 1 and codec.decode(v1) == codec.decode(v2) == codec.decode(v3) == text
    assert codec.encode(text) == v3  # the default
    # the same payload under another artifact of the same (tag, version): the keyed checksum refuses it
    ref = fr.ModelRef.of("golden", 1, "00" * 32)
    dictionary = (Path(__file__).parents[1] / "golden" / "zstd.dict").read_bytes()
    other = DomainModel("golden", 1, ref, {CodecId.ZSTD_DICT: ZstdDictCodec(dictionary, ref)})
    for keyed in (v2, v3):
        with pytest.raises(ChecksumError, match="another artifact"):
            NBMF(model=other).decode(keyed)


def test_frame_version_to_write_comes_from_the_argument_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fr.FRAME_VERSION_ENV, "1")
    assert fr.unpack(NBMF(model=golden_model()).encode("x" * 300, domain="golden"))[0].version == 1
    assert fr.unpack(NBMF(model=golden_model(), frame_version=2).encode("x" * 300, domain="golden"))[0].version == 2
    monkeypatch.setenv(fr.FRAME_VERSION_ENV, "7")
    with pytest.raises(FrameError, match="cannot write frame version"):
        NBMF()


def test_best_of_uses_dictionary_and_never_expands() -> None:
    text = "the party agreement license shall any software notice " * 10
    enc = codec.encode_record(text, domain="golden")
    assert enc.codec is CodecId.ZSTD_DICT and len(enc.frame) < len(plain.encode(text))
    noise = bytes(range(256))
    assert len(codec.encode(noise)) <= len(noise) + 8


def test_a_failing_codec_falls_back_without_losing_the_record() -> None:
    model = golden_model()

    class Broken:
        codec_id = CodecId.NEURAL
        model = golden_model().ref

        def compress(self, data: bytes) -> bytes:
            return b"x"  # tiny, wins best-of, but does not decode

        def decompress(self, payload: bytes, length: int) -> bytes:
            raise ValueError("boom")

    model.codecs[CodecId.NEURAL] = Broken()  # type: ignore[assignment]
    c = NBMF(model=model)
    text = "license " * 50
    enc = c.encode_record(text)
    assert enc.codec is not CodecId.NEURAL
    assert c.decode(enc.frame) == text


def test_decode_needs_the_frames_model() -> None:
    frame = codec.encode("the party agreement license shall " * 10)
    with pytest.raises(ModelNotFoundError):
        plain.decode(frame)


def test_corrupted_payload_is_caught() -> None:
    frame = bytearray(plain.encode("some text that compresses " * 10))
    frame[-3] ^= 0x40
    with pytest.raises(NBMFError):
        plain.decode(bytes(frame))


def test_oversize_record_refused() -> None:
    with pytest.raises(OversizeError):
        NBMF(max_record_bytes=100).encode("x" * 101)


def test_batch_api() -> None:
    values = ["a record", "another record " * 5, ""]
    assert codec.decode_many(codec.encode_many(values)) == values


def test_the_package_names_the_codec_and_stays_light_to_import() -> None:
    import subprocess

    import nbmf

    assert nbmf.NBMF is NBMF and "NBMF" in nbmf.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nbmf.nope  # noqa: B018
    probe = "import sys, nbmf; print('nbmf.codec' in sys.modules, 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split() == ["False", "False"]
