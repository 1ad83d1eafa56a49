"""Encoder and decoder see identical integer tables, however the predictor is computed.

whole record vs step by step, batch 1 / 32 / 64, torch threads 1 vs 2, torch vs the compiled step,
GPU (float32, exact by the 2^24 bound) vs CPU; and real round trips with checksums verified.
"""

import numpy as np
import pytest
import torch

from nbmf.neural.model import int_stretch_torch, node_indices, windows


def _torch_tables(tiny, rec: bytes, batch: int, device: str = "cpu", float32: bool = False) -> np.ndarray:  # type: ignore[no-untyped-def]
    ctx, tgt = windows([rec], tiny.weights.P.shape[0])
    c, n = torch.from_numpy(ctx), node_indices(torch.from_numpy(tgt))
    parts = [int_stretch_torch(tiny.weights, c[i : i + batch], n[i : i + batch], device, float32) for i in range(0, len(c), batch)]
    return torch.cat(parts).numpy().reshape(-1)


def test_encoder_and_decoder_tables_identical(tiny) -> None:  # type: ignore[no-untyped-def]
    state = tiny.shared_state()
    for rec in tiny.test[:8]:
        coded = state.encode(rec, 2 * len(rec) + 64)
        enc, dec = state.trace(rec), state.trace(rec, coded)
        assert np.array_equal(enc, dec)
        assert state.decode(coded, len(rec)) == rec


def test_whole_record_vs_step_by_step_and_torch_vs_compiled(tiny) -> None:  # type: ignore[no-untyped-def]
    state = tiny.shared_state()
    for rec in tiny.test[:5]:
        step_by_step = state.trace(rec)[:, 1]  # the compiled step, one byte at a time
        whole = _torch_tables(tiny, rec, batch=len(rec))  # torch, every position at once
        assert np.array_equal(step_by_step, whole)


@pytest.mark.parametrize("batch", [1, 32, 64])
def test_batch_sizes_agree(tiny, batch: int) -> None:  # type: ignore[no-untyped-def]
    rec = tiny.test[0][:300]
    assert np.array_equal(_torch_tables(tiny, rec, batch), _torch_tables(tiny, rec, len(rec)))


def test_torch_threads_agree(tiny) -> None:  # type: ignore[no-untyped-def]
    rec = tiny.test[1][:400]
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _torch_tables(tiny, rec, 64)
        torch.set_num_threads(2)
        two = _torch_tables(tiny, rec, 64)
    finally:
        torch.set_num_threads(old)
    assert np.array_equal(one, two)


def test_float32_path_is_exact_on_cpu(tiny) -> None:  # type: ignore[no-untyped-def]
    rec = tiny.test[2][:400]
    assert np.array_equal(_torch_tables(tiny, rec, 64, float32=True), _torch_tables(tiny, rec, 64))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_tables_equal_cpu_decoder(tiny) -> None:  # type: ignore[no-untyped-def]
    state = tiny.state()
    for rec in tiny.test[:5]:
        gpu = _torch_tables(tiny, rec, 64, device="cuda", float32=True)
        assert np.array_equal(gpu, state.trace(rec)[:, 1])
