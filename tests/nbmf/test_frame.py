import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbmf import frame as fr
from nbmf.errors import ChecksumError, FrameError
from nbmf.frame import CodecId, Header, ModelRef
from nbmf.payload import Fidelity, PayloadType

REF = ModelRef.of("legal", 3, "ab" * 32)


@given(
    st.sampled_from(list(CodecId)),
    st.sampled_from(list(Fidelity)),
    st.sampled_from(list(PayloadType)),
    st.integers(0, fr.MAX_RECORD_BYTES),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**28),
    st.binary(max_size=40),
    st.integers(1, 2**28),
)
@pytest.mark.parametrize("version", fr.READ_VERSIONS)
def test_header_round_trip(
    version: int, codec: CodecId, fid: Fidelity, pt: PayloadType, n: int, crc: int, ver: int, payload: bytes, serial: int
) -> None:
    prefix = REF.hash_prefix if version == 1 else b""
    model = ModelRef(REF.domain_tag, ver, prefix, serial=serial) if codec in (CodecId.ZSTD_DICT, CodecId.NEURAL) else None
    h = Header(codec, fid, pt, n, crc, model, version)
    if version >= fr.ENDS_VERSION and codec is not CodecId.NEURAL:
        with pytest.raises(FrameError, match="needs one"):  # only a codec that codes its end goes without a length
            fr.pack(h, payload)
        return
    back, rest = fr.unpack(fr.pack(h, payload))
    read = model if model is None or version < fr.SERIAL_VERSION else ModelRef.by_serial(serial)  # v5 holds the serial only
    if read is not None and version < fr.SERIAL_VERSION:
        read = dataclasses.replace(read, serial=None)  # v1 to v4 hold no serial
    want = dataclasses.replace(h, model=read, length=None if version >= fr.ENDS_VERSION else n)
    assert back == want and rest == payload
    assert read is None or read.names(dataclasses.replace(REF, version=ver, serial=serial))


def test_v5_header_is_6_bytes_for_serials_below_128_and_names_the_serial_alone() -> None:
    for n in (1, 200, 4096, 70000):
        for serial, size in ((1, 6), (127, 6), (128, 7), (16383, 7), (16384, 8)):
            model = ModelRef.of("technical", 3, "cd" * 32, serial)
            assert len(fr.pack(Header(CodecId.NEURAL, Fidelity.LOSSLESS, PayloadType.JSON, n, 9, model, 5), b"")) == size
            assert fr.header_size(n, model) == size  # what is written by default
    h = Header(CodecId.NEURAL, Fidelity.SEMANTIC, PayloadType.JSON, None, 0x01020304, ModelRef.of("legal", 7, "ab" * 32, 9), 5)
    frame = fr.pack(h, b"payload")
    assert frame == bytes([0xD0 | 1 << 2 | 1, 4, 3, 2, 1, 9]) + b"payload"
    back, rest = fr.unpack(frame)
    assert rest == b"payload" and back == dataclasses.replace(h, model=ModelRef.by_serial(9))
    assert back.model is not None and back.model.names(ModelRef.of("technical", 1, "00" * 32, 9))  # the serial alone names it
    assert not back.model.names(ModelRef.of("legal", 7, "ab" * 32, 10)) and not back.model.names(ModelRef.of("legal", 7, "ab" * 32))
    assert back.model.describe() == "model serial 9" and back.model.serial_only and not h.model.serial_only
    # a model its registry did not number (published before frame version 5) is written as version 4
    plain = ModelRef.of("legal", 7, "ab" * 32)
    assert fr.header_size(300, plain) == 7 and fr.version_for(5, True, plain) == 4 and fr.version_for(5, True, h.model) == 5
    assert fr.version_for(5, False, h.model) == 3 and fr.version_for(5, True) == 4
    with pytest.raises(FrameError, match="has none"):
        fr.pack(dataclasses.replace(h, model=plain), b"")


@pytest.mark.parametrize(
    "frame, msg",
    [
        (bytes([0xD8, 1, 2, 3, 4, 1]), "reserved"),
        (bytes([0xD3, 1, 2, 3, 4, 1]), "payload type"),
        (bytes([0xD0, 1, 2, 3]), "truncated"),
        (bytes([0xD0, 1, 2, 3, 4]), "truncated"),
        (bytes([0xD0, 1, 2, 3, 4, 0x81]), "truncated inside model serial"),
        (bytes([0xD0, 1, 2, 3, 4, 0x81, 0x00]), "non-canonical"),
        (bytes([0xD0, 1, 2, 3, 4, 0]), "serial 0"),
    ],
)
def test_malformed_v5_headers_raise_frame_error(frame: bytes, msg: str) -> None:
    with pytest.raises(FrameError, match=msg):
        fr.unpack(frame)


def test_v4_header_is_7_bytes_for_model_versions_below_16_and_never_longer_than_v3() -> None:
    for n in (1, 200, 2047, 2048, 4096, 70000):
        for ver in (1, 15, 16, 127, 128, 2047, 2048):
            model = ModelRef.of("technical", ver, "cd" * 32)
            v3, v4 = (len(fr.pack(Header(CodecId.NEURAL, Fidelity.LOSSLESS, PayloadType.JSON, n, 9, model, v), b"")) for v in (3, 4))
            assert v4 == (7 if ver < 16 else 8 if ver < 2048 else 9) and v4 <= v3
            assert v4 <= v3 - 2 or not (n >= 16 and ver < 16)


def test_v4_reads_fidelity_type_and_model_from_the_version_varint() -> None:
    h = Header(CodecId.NEURAL, Fidelity.SEMANTIC, PayloadType.BYTES, None, 0x01020304, ModelRef(0xAB, 9), 4)
    frame = fr.pack(h, b"payload")
    assert frame == bytes([0xC3, 4, 3, 2, 1, 0xAB, 9 << 3 | 1 << 2 | 2]) + b"payload"
    assert fr.unpack(frame) == (h, b"payload")
    with pytest.raises(FrameError, match="not STORED"):
        fr.unpack(bytes([0xC0, 4, 3, 2, 1, 0xAB, 9 << 3]))
    with pytest.raises(FrameError, match="payload type"):
        fr.unpack(bytes([0xC3, 4, 3, 2, 1, 0xAB, 3]))
    with pytest.raises(FrameError, match="truncated"):
        fr.unpack(bytes([0xC3, 4, 3, 2, 1]))
    with pytest.raises(FrameError, match="needs the record's length"):
        fr.pack(dataclasses.replace(h, version=3), b"")


def test_typical_header_is_at_most_9_bytes_in_v3_10_in_v2_and_12_in_v1() -> None:
    for n in (200, 1023, 1024, 2047, 2048, 4096, 16383):
        for version, most in ((1, 12), (2, 10), (3, 9 if n < 2048 else 10)):
            h = Header(CodecId.NEURAL, Fidelity.LOSSLESS, PayloadType.STR, n, 0xDEADBEEF, ModelRef.of("technical", 12, "cd" * 32), version)
            assert len(fr.pack(h, b"")) <= most
            stub = len(fr.pack(Header(CodecId.STUB_ZLIB, Fidelity.LOSSLESS, PayloadType.STR, n, 1, version=version), b""))
            assert stub <= (7 if version == 3 and n < 2048 else 8)


@given(st.integers(0, fr.MAX_RECORD_BYTES), st.sampled_from(list(PayloadType)), st.sampled_from(list(Fidelity)))
def test_v3_header_is_never_longer_than_v2(n: int, pt: PayloadType, fid: Fidelity) -> None:
    for codec, model in ((CodecId.NEURAL, REF), (CodecId.STORED, None)):
        v2, v3 = (len(fr.pack(Header(codec, fid, pt, n, 7, model, version), b"")) for version in (2, 3))
        assert v3 <= v2 and (v3 < v2 if 128 <= n < 2048 else True)


def test_v2_reference_has_no_hash_prefix_and_names_every_artifact_of_its_tag_and_version() -> None:
    h = Header(CodecId.NEURAL, Fidelity.LOSSLESS, PayloadType.STR, 5, 1, REF, 2)
    back, _ = fr.unpack(fr.pack(h, b"p"))
    assert back.model == ModelRef(REF.domain_tag, 3) and back.model.names(REF) and back.model.names(ModelRef.of("legal", 3, "00" * 32))
    assert not back.model.names(ModelRef.of("legal", 4, "ab" * 32))
    v1, _ = fr.unpack(fr.pack(Header(CodecId.NEURAL, Fidelity.LOSSLESS, PayloadType.STR, 5, 1, REF, 1), b"p"))
    assert v1.model is not None and v1.model.names(REF) and not v1.model.names(ModelRef.of("legal", 3, "00" * 32))


def test_v2_checksum_is_keyed_by_the_artifact() -> None:
    data = b"record"
    crc = fr.checksum(data, REF.key or 0)
    h = Header(CodecId.NEURAL, Fidelity.LOSSLESS, PayloadType.BYTES, len(data), crc, ModelRef(REF.domain_tag, 3))
    assert REF.key and fr.verify(h, data, REF) == data
    with pytest.raises(ChecksumError, match="another artifact"):
        fr.verify(h, data, ModelRef.of("legal", 3, "00" * 32))
    with pytest.raises(FrameError, match="complete model reference"):
        fr.verify(h, data, ModelRef(REF.domain_tag, 3))


@pytest.mark.parametrize(
    "frame, msg",
    [
        (b"", "too short"),
        (b"{}", "marker"),
        (bytes([0x80 | (6 << 4), 0]), "version 6 .*newer nbmf"),
        (bytes([0x9F, 0]), "unknown codec"),
        (bytes([0x90, 0x01]), "reserved"),
        (bytes([0x90, 0x60, 5]), "payload type"),
        (bytes([0x92, 0x00, 5, 0, 0, 0, 0]), "without a model"),
        (bytes([0x90, 0x00, 0x85]), "truncated inside length"),
        (bytes([0x90, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), "limit"),
        (bytes([0x90, 0x00, 5, 1, 2]), "checksum"),
        (bytes([0xB0, 0x03]), "payload type"),  # v3: fidelity and payload type in the length varint's low 3 bits
        (bytes([0xB0, 0x85]), "truncated inside length"),
        (bytes([0xB0, 0x80, 0xFF, 0xFF, 0xFF, 0x0F]), "limit"),
        (bytes([0xB0, 0x28, 1, 2]), "checksum"),
        (bytes([0xB3, 0x28, 0, 0, 0, 0]), "truncated inside model reference"),  # v3: the codec says a reference follows
    ],
)
def test_malformed_headers_raise_frame_error(frame: bytes, msg: str) -> None:
    with pytest.raises(FrameError, match=msg):
        fr.unpack(frame)


def test_verify_checks_length_and_checksum() -> None:
    h = Header(CodecId.STORED, Fidelity.LOSSLESS, PayloadType.BYTES, 3, fr.checksum(b"abc"))
    assert fr.verify(h, b"abc") == b"abc"
    with pytest.raises(ChecksumError):
        fr.verify(h, b"abd")
    with pytest.raises(ChecksumError):
        fr.verify(h, b"ab")


def test_model_ref_matches() -> None:
    assert REF.matches("legal", 3, "ab" * 32)
    assert not REF.matches("legal", 4, "ab" * 32)
    assert fr.domain_tag("legal") == REF.domain_tag


def test_header_size_is_what_pack_writes() -> None:
    sizes = [fr.header_size(300, REF, v) for v in (1, 2, 3, 4, 5)]
    assert sizes == [12, 10, 9, 7, 7]  # REF has no serial: version 5 is written as version 4
    assert fr.header_size(300, ModelRef(REF.domain_tag, 3), 1) == 12  # v1 counts a hash prefix
    assert fr.header_size(300, None) == 7 and fr.header_size(5000, REF) == 7 and fr.header_size(300, ModelRef(1, 300)) == 8
    assert fr.header_size(5000, REF, 3) == 10 and fr.header_size(300, ModelRef(1, 300), 3) == 10
    # a codec that needs its length is counted (and written) as version 3 under version 4
    assert fr.header_size(300, REF, 4, CodecId.ZSTD_DICT) == 9 and fr.version_for(4, False) == 3 and fr.version_for(2, True) == 2
    h = Header(CodecId.ZSTD_DICT, Fidelity.SEMANTIC, PayloadType.JSON, 777, 5, REF, 3)
    assert fr.header_size(777, REF, 3, CodecId.ZSTD_DICT) == len(fr.pack(h, b""))
