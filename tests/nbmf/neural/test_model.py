import numpy as np
import pytest
import torch
from tests_support import GIVEN_CHOICES

from nbmf.config import NeuralConfig
from nbmf.neural.cm import NeuralWeights
from nbmf.neural.model import (
    BytePredictor,
    bad_evals_after,
    budget_used,
    eval_bpb,
    export_int,
    int_stretch_torch,
    loss_fn,
    lr_factor,
    node_indices,
    packed,
    table_sum,
    target_bits,
    train_step,
    windows,
    windows_at,
)
from nbmf.neural.tables import SQUASH


def test_windows_are_record_local_and_most_recent_first() -> None:
    ctx, tgt = windows([b"abc", b"xy"], 2)
    assert tgt.tolist() == list(b"abcxy")
    assert ctx.tolist() == [[0, 0], [97, 0], [98, 97], [0, 0], [120, 0]]


def test_packed_windows_cut_anywhere_equal_the_plain_cut() -> None:
    """The train job ships packed bytes + positions to the worker's device and cuts windows there
    (``windows_at``): the same windows as cutting each record on the host, in any order of positions."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        records = [rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes() for _ in range(int(rng.integers(0, 6)))]
        context = int(rng.integers(1, 20))
        want_ctx, want_tgt = [], []
        for r in records:
            padded = bytes(context) + r
            for i in range(len(r)):
                want_ctx.append([padded[context + i - k] for k in range(1, context + 1)])
                want_tgt.append(r[i])
        buf, pos = packed(records, context)
        assert buf.dtype == np.uint8 and len(pos) == len(want_tgt)
        order = rng.permutation(len(pos))
        ctx, tgt = windows_at(torch.from_numpy(buf), torch.from_numpy(pos[order]), context)
        assert ctx.dtype == torch.int64 and ctx.shape == (len(want_tgt), context)
        assert ctx.tolist() == [want_ctx[i] for i in order] and tgt.tolist() == [want_tgt[i] for i in order]


@pytest.mark.parametrize("kind", ["table", "factored"])
def test_byte_windows_train_as_the_widened_ones_do(kind: str) -> None:
    """The train job cuts a whole batch of windows as bytes (``widen=False``) and slices it per step: the model's loss
    and gradients are the ones it computes on int64 windows."""
    records = [bytes(np.random.default_rng(i).integers(0, 256, 300, dtype=np.uint8)) for i in range(3)]
    buf, pos = packed(records, 8)
    wide = windows_at(torch.from_numpy(buf), torch.from_numpy(pos), 8)
    narrow = windows_at(torch.from_numpy(buf), torch.from_numpy(pos), 8, widen=False)
    assert narrow[0].dtype == torch.uint8 and torch.equal(narrow[0].long(), wide[0]) and torch.equal(narrow[1].long(), wide[1])
    losses, grads = [], []
    for ct, tt in (wide, narrow):
        torch.manual_seed(0)
        model = BytePredictor(NeuralConfig(context=8, dim=4, hidden=16, first_layer=kind))
        loss = loss_fn(model, ct, tt)
        loss.backward()  # type: ignore[no-untyped-call]
        losses.append(float(loss.detach()))
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert losses[0] == losses[1]
    assert all(torch.equal(a, b) for a, b in zip(grads[0], grads[1]))


def test_node_indices_walk_the_binary_tree() -> None:
    t = torch.tensor([0b10110001])
    assert node_indices(t).tolist() == [[1, 3, 6, 13, 27, 54, 108, 216]]
    assert target_bits(t).tolist() == [[1, 0, 1, 1, 0, 0, 0, 1]]


def test_the_fast_training_path_computes_what_the_plain_one_does() -> None:
    """The CPU backward of the first-layer table (``table_sum``) gives torch's ``EmbeddingBag`` gradient (up to the order
    of float sums: torch's may split a row's sum over threads), and the output layer's one matrix product gives each
    target bit the logit of its own tree node."""
    torch.manual_seed(0)
    cfg = NeuralConfig(context=8, hidden=16)
    m = BytePredictor(cfg)
    ctx = torch.randint(0, 256, (300, 8))
    ctx[:40] = 7  # many windows naming the same rows
    tgt = torch.randint(0, 256, (300,))
    rows = ctx + m.row0
    grad = torch.randn(300, 16)
    w = m.P.weight.detach().clone().requires_grad_(True)
    fast = table_sum(w, rows)
    fast.backward(grad)
    plain_w = m.P.weight.detach().clone().requires_grad_(True)
    plain = torch.nn.functional.embedding_bag(rows, plain_w, mode="sum")
    plain.backward(grad)
    assert torch.equal(fast, plain) and w.grad is not None and plain_w.grad is not None
    assert torch.allclose(w.grad, plain_w.grad, atol=1e-5) and (w.grad != 0).sum() == (plain_w.grad != 0).sum()

    h = m.hidden(ctx)
    nodes = node_indices(tgt)
    want = torch.einsum("bkh,bh->bk", m.out(nodes), h) + m.out_b(nodes).squeeze(-1)
    assert torch.allclose(m(ctx, tgt), want, atol=1e-5)


def test_train_step_learns() -> None:
    torch.manual_seed(0)
    m = BytePredictor(NeuralConfig(context=4, dim=4, hidden=16))
    ctx, tgt = windows([b"abababababababab" * 20], 4)
    c, t = torch.from_numpy(ctx), torch.from_numpy(tgt)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = train_step(m, opt, c, t)
    for _ in range(150):
        last = train_step(m, opt, c, t)
    assert first > 6 and last < 0.5


@pytest.mark.parametrize("kind", ["table", "factored"])
def test_either_first_layer_exports_the_table_its_float_model_computes(kind: str) -> None:
    """A ``table`` first layer is P itself; a ``factored`` one (models before the twenty-seventh session) folds into P. Either way the
    exported table's rows, summed, are the float model's first layer, and the integer model codes as the float one."""
    from nbmf.neural.model import optimizer

    torch.manual_seed(0)
    cfg = NeuralConfig(context=6, dim=4, hidden=16, first_layer=kind, lr=1e-2)  # type: ignore[arg-type]
    m = BytePredictor(cfg)
    ctx, tgt = windows([b"the quick brown fox jumps over the lazy dog; " * 30], cfg.context)
    c, t = torch.from_numpy(ctx), torch.from_numpy(tgt)
    opt = optimizer(m)
    for _ in range(80):
        train_step(m, opt, c, t)
    P, b1 = m.first_layer_table()
    assert P.shape == (cfg.context, 256, cfg.hidden)
    summed = b1 + sum(P[k][c[:, k]] for k in range(cfg.context))
    assert torch.allclose(summed.clamp(0, cfg.hmax), m.hidden(c).detach().double(), atol=1e-5)
    float_bpb = eval_bpb(m, c, t)
    p1 = SQUASH[int_stretch_torch(export_int(m), c, node_indices(t)).numpy() + 2048] / 4096
    bits = target_bits(t).numpy()
    int_bpb = float(-np.log2(np.where(bits == 1, p1, 1 - p1)).sum() / len(tgt))
    assert float_bpb < 1.0 and abs(int_bpb - float_bpb) < 0.02 + 0.02 * float_bpb, (int_bpb, float_bpb)


def test_integer_model_matches_float_model(tiny) -> None:  # type: ignore[no-untyped-def]
    ctx, tgt = windows(tiny.test[:10], tiny.model.cfg.context)
    c, t = torch.from_numpy(ctx), torch.from_numpy(tgt)
    float_bpb = eval_bpb(tiny.model, c, t)
    st = int_stretch_torch(tiny.weights, c, node_indices(t)).numpy()
    p1 = SQUASH[st + 2048] / 4096
    bits = target_bits(t).numpy()
    int_bpb = float(-np.log2(np.where(bits == 1, p1, 1 - p1)).sum() / len(tgt))
    assert abs(int_bpb - float_bpb) / float_bpb < 0.02, (int_bpb, float_bpb)


def test_export_is_contiguous_integers(tiny) -> None:  # type: ignore[no-untyped-def]
    w = export_int(tiny.model)
    assert w.P.dtype == np.int16 and w.P.flags["C_CONTIGUOUS"]  # the narrowest type the kernel sums exactly
    for a in (w.B1, w.WO, w.BO):
        assert a.dtype == np.int64 and a.flags["C_CONTIGUOUS"]
    assert np.abs(w.WO).max() <= 127


def test_a_build_with_the_same_steps_trains_the_same_weights(tiny) -> None:  # type: ignore[no-untyped-def]
    """``build_files`` seeds the predictor's initial weights from the config: two builds that train the same
    number of steps export the same integer weights (before, each started from an unseeded initialisation)."""
    from nbmf.neural.build import build_files
    from nbmf.neural.codec import unpack_files

    neural = tiny.config.neural.model_copy(update={"max_steps": 20, "time_budget_s": 600})
    cm = tiny.config.cm.model_copy(update=GIVEN_CHOICES)  # one priming, no choices
    cfg = tiny.config.model_copy(update={"neural": neural, "cm": cm})
    built = []
    for seed in (123, 456):  # whatever the global generator holds before
        torch.manual_seed(seed)
        built.append(unpack_files(build_files(tiny.train, tiny.test[:12], cfg)[0])[0])
    a, b = built
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("P", "B1", "WO", "BO"))
    assert (a.m1, a.s1, a.m2) == (b.m1, b.s1, b.m2)


def test_by_default_the_time_budget_stops_training(tiny) -> None:  # type: ignore[no-untyped-def]
    """A config that names only a time budget trains for it: no step cap stops it first (there was one at 3,000
    steps, so `nbmf train --time-budget 180` stopped after a third of its budget on a 2-core machine)."""
    from nbmf.neural.model import BytePredictor, train

    cfg = NeuralConfig(context=4, dim=4, hidden=8, batch_size=1, time_budget_s=8.0)  # 3,000 such steps take 2-5 s here
    r = train(BytePredictor(cfg), tiny.train[:20], tiny.test[:5])
    assert r.seconds >= cfg.time_budget_s and r.steps < cfg.max_steps


def test_the_learning_rate_holds_then_falls_over_the_last_part_of_the_budget() -> None:
    cfg = NeuralConfig(max_steps=1000, time_budget_s=100, lr_decay=0.3)
    assert [lr_factor(cfg, budget_used(cfg, s, 0.0)) for s in (0, 700)] == [1.0, 1.0]
    assert abs(lr_factor(cfg, budget_used(cfg, 850, 0.0)) - 0.5) < 1e-9
    assert lr_factor(cfg, budget_used(cfg, 1000, 0.0)) == 0.05  # never quite 0: the last steps still learn
    # steps or time, whichever runs out first
    assert abs(lr_factor(cfg, budget_used(cfg, 10, 85.0)) - 0.5) < 1e-9 and budget_used(cfg, 10, 100.0) == 1.0
    assert lr_factor(cfg.model_copy(update={"lr_decay": 0.0}), 0.99) == 1.0  # constant, as before
    assert budget_used(NeuralConfig(max_steps=0), 0, 0.0) == 1.0  # no steps at all


def test_early_stopping_counts_evaluations_without_a_gain_only_once_the_learning_rate_falls() -> None:
    cfg = NeuralConfig(max_steps=1000, time_budget_s=100, lr_decay=0.3)
    bad = 0
    for step in range(200, 701, 100):  # a plateau at the held rate: not one of these counts
        bad = bad_evals_after(cfg, bad, improved=False, used=budget_used(cfg, step, 0.0))
    assert bad == 0
    for step in (800, 900):  # the rate falls: now they count, and a gain starts the count again
        bad = bad_evals_after(cfg, bad, improved=False, used=budget_used(cfg, step, 0.0))
    assert bad == 2 and bad_evals_after(cfg, bad, improved=True, used=0.95) == 0
    assert bad_evals_after(cfg, 2, improved=False, used=budget_used(cfg, 10, 75.0)) == 3  # time counts as well
    constant = cfg.model_copy(update={"lr_decay": 0.0})  # no decay to wait for: every evaluation counts
    assert bad_evals_after(constant, 0, improved=False, used=0.1) == 1


def test_a_first_layer_outside_int32_is_refused_not_wrapped(tiny) -> None:  # type: ignore[no-untyped-def]
    """The artifact stores P as int32: a value beyond it would wrap and decode other bytes than it encoded."""
    import dataclasses

    w = export_int(tiny.model)
    big = w.P.astype(np.int64)
    big[0, 0, 0] = 2**31
    with pytest.raises(ValueError, match="outside int32"):
        dataclasses.replace(w, P=big)


def test_a_first_layer_beyond_int16_is_held_as_int32(tiny) -> None:  # type: ignore[no-untyped-def]
    """int16 only where every value fits: one beyond it keeps the table int32 (summed in int64), not wrapped."""
    import dataclasses

    w = export_int(tiny.model)
    wide = w.P.astype(np.int64)
    wide[0, 0, 0] = 2**15
    w2 = dataclasses.replace(w, P=wide)
    assert w2.P.dtype == np.int32 and int(w2.P[0, 0, 0]) == 2**15


def test_a_bias_that_an_int32_sum_could_pass_keeps_the_table_int32() -> None:
    """int16 only where B1 plus one int16 row per position cannot pass int32, the type the kernel sums it in."""
    P, WO, BO = np.ones((4, 256, 8), np.int64), np.zeros((256, 8), np.int64), np.zeros(256, np.int64)
    assert NeuralWeights(P, np.zeros(8, np.int64), WO, BO, 1, 1, 1).P.dtype == np.int16
    assert NeuralWeights(P, np.full(8, 2**31 - 2**16, np.int64), WO, BO, 1, 1, 1).P.dtype == np.int32


def test_weight_decay_shrinks_what_training_never_touches() -> None:
    """``NeuralConfig.weight_decay`` (AdamW): rows of the free table that no window uses decay toward zero, so a small
    domain seen many times is not memorized by rare rows; 0 is plain Adam, which leaves them as initialized (#15)."""
    from nbmf.neural.model import optimizer

    ctx, tgt = windows([b"abcabcabc abcabc " * 20], 4)
    c, t = torch.from_numpy(ctx), torch.from_numpy(tgt)
    unused = torch.tensor([k * 256 + ord("z") for k in range(4)])  # "z" is never in a window
    norms = {}
    for wd in (0.0, 0.1):
        torch.manual_seed(0)
        m = BytePredictor(NeuralConfig(context=4, hidden=8, lr=1e-2, weight_decay=wd))
        before = m.P.weight[unused].detach().clone()
        opt = optimizer(m)
        assert isinstance(opt, torch.optim.AdamW) == (wd > 0)
        for _ in range(50):
            train_step(m, opt, c, t)
        after = m.P.weight[unused].detach()
        norms[wd] = float(after.norm() / before.norm())
    assert norms[0.0] == 1.0  # Adam: no gradient, no change
    assert norms[0.1] < 0.999  # AdamW: (1 - lr * wd) per step, 50 steps
