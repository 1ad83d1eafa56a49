"""The compiled kernel readied before the first record: ``nbmf compile-kernel`` for an image, a version's load for a
replica."""

import logging

import pytest

from nbmf.neural import kernel as K
from nbmf.neural import precompile


def _compiled() -> set[tuple[str, str]]:
    """(mixer weights' type, first-layer table's type) of every compiled ``process`` in this process."""
    return {(str(sig[3]), str(sig[14])) for sig in K.process.signatures}


def test_the_kernel_is_readied_for_each_type_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precompile, "_ready", set())
    took = precompile.compile_kernel(precompile.FIRST_LAYERS)
    assert set(took) == {"int16", "int32"} and all(s > 0 for s in took.values())
    assert precompile.compile_kernel(precompile.FIRST_LAYERS) == {}  # once a process
    assert precompile.compile_kernel(("int16",), wide=False) == {}  # the wide one covers the narrow one
    if K.NARROW:  # (plain Python has no compiled code: it runs, and readies nothing)
        for first_layer in ("int16", "int32"):
            for weights in ("int32", "int64"):
                assert (f"array({weights}, 1d, C)", f"array({first_layer}, 3d, C)") in _compiled()
    with pytest.raises(ValueError, match="int16 or int32"):
        precompile.compile_kernel(("int8",))


def test_a_state_primed_on_nothing_codes_records(tiny) -> None:  # type: ignore[no-untyped-def]
    """What readies the kernel without priming: a state put together unprimed codes and decodes any record."""
    from nbmf.neural.cm import CMConfig

    state = precompile._unprimed(CMConfig(table_bits=12, match_bits=12), precompile._weights("int16"))
    for rec in [*tiny.test[:3], b"", bytes(range(256))]:
        assert state.decode(state.encode(rec, 2 * len(rec) + 64), len(rec)) == rec


def test_loading_a_version_readies_its_kernel(tiny, tmp_path, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """A Serve replica loads its versions before it takes traffic (``ModelService.load``): the code its records need
    is compiled then (or read from numba's cache), not on the first record."""
    from nbmf.frame import CodecId
    from nbmf.models import ModelService
    from nbmf.neural.build import publish
    from nbmf.registry import Registry

    reg = Registry(str(tmp_path))
    version = publish(reg, "technical", tiny.files(), tiny.config, {"zstd_dict_id": None}).version
    monkeypatch.setattr(precompile, "_ready", set())
    with caplog.at_level(logging.INFO, logger="nbmf.models"):
        model = ModelService(reg).load("technical", version)
    first_layer = str(model.codecs[CodecId.NEURAL].state.nn.P.dtype)  # type: ignore[attr-defined]
    assert precompile._ready == {(first_layer, False)}  # the code of records on int32 weights, not priming's
    assert any("loaded in" in r.getMessage() for r in caplog.records)
