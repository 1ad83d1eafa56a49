"""A tiny trained domain model shared by the neural tests (small tables, a few seconds of training)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from nbmf.config import CMParams, ModelConfig, NeuralConfig
from nbmf.corpus import local_records
from nbmf.neural.build import build_files, select_reference
from nbmf.neural.cm import CMState, NeuralWeights
from nbmf.neural.codec import cm_config
from nbmf.neural.model import BytePredictor, export_int, train

SMALL_CM = CMParams(table_bits=16, match_bits=16)


@dataclass
class Tiny:
    train: list[bytes]
    test: list[bytes]
    model: BytePredictor
    weights: NeuralWeights
    reference: bytes
    config: ModelConfig
    _built: dict[str, bytes] = field(default_factory=dict)
    _shared: CMState | None = None

    def state(self, use_nn: bool = True, nn_only: bool = False) -> CMState:
        """A state of its own, primed now (a test may change it as it likes)."""
        return CMState.build(cm_config(SMALL_CM), self.reference, self.weights, use_nn, nn_only)

    def shared_state(self) -> CMState:
        """One primed state for every caller (primed once): for tests that only code records with it, each of which
        must leave it as it found it (the journal's undo), so sharing it checks that too."""
        if self._shared is None:
            self._shared = self.state()
        return self._shared

    def files(self) -> dict[str, bytes]:
        """The files of its build with the config's choices (built once per session: a build primes and codes the
        check records several times); a new dict each call, the same bytes."""
        if not self._built:
            self._built.update(build_files(self.train, self.test, self.config, self.weights)[0])
        return dict(self._built)


@pytest.fixture(scope="session")
def tiny() -> Tiny:
    recs = [r["text"].encode() for r in local_records("technical", limit=260)]
    train_r, test_r = recs[:220], recs[220:]
    cfg = ModelConfig(
        reference_bytes=200_000,
        dict_bytes=4096,
        neural=NeuralConfig(context=8, dim=8, hidden=32, max_steps=150, time_budget_s=30, batch_size=256),
        cm=SMALL_CM,
        val_in_reference=False,  # its builds' val records are the test records the tests code: they stay out of it
        predictor_min_gain=None,  # the tests are of the predictor's machinery: a tiny one is kept, unchecked
    )
    torch.manual_seed(0)
    model = BytePredictor(cfg.neural)
    train(model, train_r, test_r)
    return Tiny(train_r, test_r, model, export_int(model), select_reference(train_r, cfg.reference_bytes), cfg)
