import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests_support import GIVEN_CHOICES, write_datasets

from jobs.train import ShardCache, TrainConfig, check_resumable, run, run_id
from nbmf.codec import NBMF
from nbmf.config import CMParams, ModelConfig, NeuralConfig
from nbmf.corpus import local_records
from nbmf.errors import NBMFError
from nbmf.registry import Registry
from nbmf.storage import Store


def tiny_config(tmp: Path, **kw: object) -> TrainConfig:
    model = ModelConfig(
        reference_bytes=120_000,
        dict_bytes=4096,
        neural=NeuralConfig(context=8, dim=8, hidden=32, max_steps=40, batch_size=128, time_budget_s=120),
        cm=CMParams(table_bits=16, match_bits=16, **GIVEN_CHOICES),
        predictor_min_gain=None,
    )
    base = dict(domains=["technical", "legal"], data=str(tmp), registry=str(tmp / "reg"), model=model, eval_every=10, cpus_per_worker=0.5)
    base.update(kw)
    return TrainConfig.model_validate(base)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    tech = [r["text"] for r in local_records("technical", limit=200)]
    legal = [r["text"] for r in local_records("legal", limit=200)] or [t.upper() for t in tech]
    write_datasets(root, {"technical": tech, "legal": legal})
    return root


@pytest.mark.slow
def test_two_domains_train_concurrently_and_publish(ray_local, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    # legal's own fields: no predictor (nothing to train, the build alone), a smaller dictionary
    own = {"legal": ModelConfig.model_validate({"use_neural": False, "dict_bytes": 2048}), "general": ModelConfig()}
    cfg = tiny_config(data_root, progress_every_s=0.5, val_tokens=700, model_by_domain=own)
    lines: list[str] = []
    out = run(cfg, lines.append)
    assert set(out) == {"technical", "legal"}
    assert 'legal: its own model fields {"dict_bytes": 2048, "use_neural": false}' in lines, lines
    assert "model_by_domain names general, not trained in this run: ignored" in lines
    assert "legal: no predictor to train (model.use_neural is false): building the codec without one…" in lines
    assert not any(ln.startswith("legal: step ") for ln in lines) and out["legal"]["train_metrics"]["step"] == 0
    for domain in out:  # live progress from the workers: the last line of a domain that trained is its final step
        shown = [ln for ln in lines if ln.startswith(f"{domain}: step ")]
        assert domain == "legal" or (shown and shown[-1].startswith(f"{domain}: step 40/40 ·") and "val " in shown[-1]), lines
        # then what the build does, from inside its Ray task: every message, in order, from its plan to where it ended
        built = [ln for ln in lines if ln.startswith(f"{domain}: build: ")]
        assert built[0].startswith(f"{domain}: build: the build primes "), lines
        assert built[-1].startswith(f"{domain}: build: published as version ") and len(built) > 2, lines
    reg = Registry(cfg.registry)
    for domain, res in out.items():
        man = reg.manifest(domain, res["version"])
        use_neural, dict_bytes = (False, 2048) if domain == "legal" else (True, 4096)  # legal's own fields, the rest `model`'s
        assert (man.config["use_neural"], man.config["dict_bytes"], man.config["neural"]["hidden"]) == (use_neural, dict_bytes, 32)
        assert res["metrics"]["predictor_place"] == ("mixers" if use_neural else "none")
        assert man.data_manifest == {"domain": domain, "records": 200}
        assert res["metrics"]["val_exact"] == 1.0
        assert res["metrics"]["build_threads"] == 1  # two domains on 2 CPUs: a CPU each
        if use_neural:
            assert res["train_metrics"]["step"] == 40
            assert res["train_metrics"]["val_tokens"] == 700  # each evaluation: an even sample of the val shard
        # every val record round-trips through the published candidate
        codec = NBMF(reg)
        val = pq.read_table(data_root / "datasets" / domain / "val" / "part-0.parquet").column("text").to_pylist()
        model = codec.load(domain, res["version"])
        for text in val:
            frame = NBMF(model=model).encode(text)
            assert codec.decode(frame) == text
    # the same run again: resumes from its last checkpoint instead of starting over
    again = run(cfg)
    for domain, res in again.items():
        assert res["train_metrics"]["step"] == (40 if domain == "technical" else 0)
        tokens_per_s = res["train_metrics"].get("tokens_per_s_per_worker", 0.0)
        assert tokens_per_s in (0.0, out[domain]["train_metrics"].get("tokens_per_s_per_worker"))
        assert res["version"] == out[domain]["version"]  # nothing retrained, nothing republished


def test_a_domains_own_model_fields_go_over_the_shared_ones(data_root: Path) -> None:
    cfg = tiny_config(data_root)
    legal = ModelConfig.model_validate({"predictor_place": "best", "neural": {"hidden": 64}})
    own = tiny_config(data_root, model_by_domain={"legal": legal})
    assert own.for_domain("technical") == cfg.for_domain("technical") and own.own_settings("technical") == {}
    mine = own.for_domain("legal")
    assert mine.model.predictor_place == "best" and mine.model.neural.hidden == 64 and mine.model_by_domain == {}
    assert mine.model.neural.context == 8 and mine.model.cm == cfg.model.cm  # what legal leaves alone is `model`'s
    # the run id: the same as before such fields existed where no trained domain sets any, another where one does
    assert run_id(tiny_config(data_root, model_by_domain={"general": legal})) == run_id(cfg) != run_id(own)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_workers_stop_together_when_the_time_budget_runs_out(ray_local, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    """DDP workers start their clocks at different moments; the time budget must stop them at the same step, or the
    first to stop waits for the other's all-reduce (and the other for its gradients) until the collective times out."""
    cfg = tiny_config(data_root, domains=["technical"], workers_per_domain=2, run="two-workers", eval_every=10**6)
    cfg.model.neural = NeuralConfig(context=8, dim=8, hidden=32, max_steps=10**9, batch_size=128, time_budget_s=8)
    m = run(cfg)["technical"]["train_metrics"]
    assert m["world_size"] == 2 and m["step"] > 0 and m["wall_s"] >= 8


def test_the_shard_cache_gives_every_record_once_a_pass_and_gives_up_past_its_limit() -> None:
    import numpy as np

    cache = ShardCache(limit_bytes=10)
    for batch in (["ab", "cd", "e"], ["fgh"]):
        cache.add(np.array(batch, dtype=object))
    rng = np.random.default_rng(0)
    passes = [[r for b in cache.passes(rng, per_batch=3) for r in b] for _ in range(2)]
    assert [len(b) for b in cache.passes(rng, per_batch=3)] == [3, 1]
    assert all(sorted(p) == ["ab", "cd", "e", "fgh"] for p in passes) and passes[0] != passes[1]
    cache.add(np.array(["ijk"], dtype=object))  # 11 characters: over the limit, nothing kept
    assert not cache.usable and cache.batches is None
    assert not ShardCache(0).usable  # 0: never


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("cache_mb", [0.0, 1.0])
def test_two_workers_train_pass_after_pass(ray_local, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_mb: float) -> None:  # type: ignore[no-untyped-def]
    """Shards of equal records hold unequal tokens: one worker runs out of its pass first. It must not start the next
    pass alone (Ray Data's split waits for every worker to start it, while the other waits in DDP's all-reduce for it):
    all end each pass at the same step. The run's steps are more than two passes of the shorter shard can hold.
    Each pass through Ray Data (no cache), or the passes after the first from each worker's memory (``ShardCache``).
    The data and the registry are given as relative paths, as in the README: Ray Train runs its workers elsewhere."""
    texts = [r["text"] for r in local_records("technical", limit=10)]
    write_datasets(tmp_path, {"technical": texts})
    train_bytes = sum(len(t.encode()) for t in texts[:8])  # write_datasets: the first 80 % train
    steps = 2 * (train_bytes // (2 * 128)) + 1  # the shorter of two shards holds at most half the bytes
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(Path("."), domains=["technical"], workers_per_domain=2, run="passes", eval_every=10**6, shard_cache_mb=cache_mb)
    cfg.model.neural = NeuralConfig(context=8, dim=8, hidden=32, max_steps=steps, batch_size=128, time_budget_s=240)
    out = run(cfg)["technical"]
    m = out["train_metrics"]
    assert m["world_size"] == 2 and m["step"] == steps and m["passes"] >= 2
    assert m["shard_cached"] is (cache_mb > 0)
    assert m["val_tokens"] > 0 and m["val_bpb"] > 0  # each worker found the val split from its own directory
    assert Registry(str(tmp_path / "reg")).manifest("technical", out["version"])


@pytest.mark.slow
def test_worker_failure_resumes_from_checkpoint(ray_local, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(data_root, domains=["technical"], inject_failure_at_step=25, run="fail-once")
    out = run(cfg)
    m = out["technical"]["train_metrics"]
    assert m["resumed_from_step"] == 20  # the checkpoint written at step 20, before the failure at 25
    assert m["step"] == 40
    assert out["technical"]["metrics"]["build_threads"] == 2  # one domain alone on 2 CPUs: its build holds both
    # the same run under a model whose weights have other shapes: refused before anything trains, with the setting
    other = cfg.model_copy(deep=True)
    other.model.neural.first_layer = "factored"
    with pytest.raises(NBMFError, match=r"fail-once cannot resume.*model\.neural\.first_layer: 'table' \(this config: 'factored'\)"):
        run(other)


def test_a_checkpoint_from_before_a_setting_existed_is_read_with_that_settings_old_value(tmp_path: Path) -> None:
    """Checkpoints written before ``first_layer`` existed hold a factored layer; resuming one under today's default
    ("table") is refused with the setting to pass, and resuming it as factored is allowed."""
    cfg = tiny_config(tmp_path, domains=["legal"])
    saved = cfg.model_dump(mode="json")
    del saved["model"]["neural"]["first_layer"]
    ckpt = tmp_path / "runs" / "legal-old" / "checkpoint_2026-11-30_10-00-00.000000"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text(json.dumps(saved))
    (ckpt.parent / "checkpoint_manager_snapshot.json").write_text("{}")  # Ray Train's, beside the checkpoints
    runs = Store(str(tmp_path / "runs"))
    with pytest.raises(NBMFError, match=r"first_layer: 'factored' \(this config: 'table'\)"):
        check_resumable(runs, "legal-old", cfg)
    cfg.model.neural.first_layer = "factored"
    check_resumable(runs, "legal-old", cfg)
    check_resumable(runs, "legal-new", cfg)  # no checkpoints yet: nothing to compare


@pytest.mark.slow
def test_ray_job_submit_on_its_own_cluster(data_root: Path, tmp_path: Path) -> None:
    """``ray start --head`` on 127.0.0.1 with its own ports and temp dir, ``ray job submit``, stop only it."""
    import os
    import subprocess
    import sys
    import time

    from tests_support import free_ports  # type: ignore[import-not-found]

    bin_dir = Path(sys.executable).parent
    gcs, dash, client, nm, om, agent, metrics, rt_env, agent_grpc = free_ports(9)
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    temp = Path("/tmp") / f"rayt{os.getpid()}"  # ray needs a short socket path
    head = subprocess.Popen(
        [str(bin_dir / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1", "--include-dashboard=true", f"--ray-client-server-port={client}",
         f"--node-manager-port={nm}", f"--object-manager-port={om}", f"--dashboard-agent-listen-port={agent}",
         f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={rt_env}", f"--dashboard-agent-grpc-port={agent_grpc}",
         "--num-cpus=2", f"--object-store-memory={300 * 1024 * 1024}", f"--temp-dir={temp}", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        address = f"http://127.0.0.1:{dash}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # bounded wait for the job server
            ok = subprocess.run([str(bin_dir / "ray"), "job", "list", "--address", address], env=env, capture_output=True, timeout=60)
            if ok.returncode == 0:
                break
            time.sleep(2)
        cfg = tiny_config(data_root, domains=["technical"], registry=str(tmp_path / "reg"), run="submitted")
        cfg_file = tmp_path / "train.json"
        cfg_file.write_text(cfg.model_dump_json())
        sub = subprocess.run(
            [str(bin_dir / "ray"), "job", "submit", "--address", address, "--",
             sys.executable, "-m", "jobs.train", "--config", str(cfg_file)],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert sub.returncode == 0, sub.stdout[-3000:] + sub.stderr[-3000:]
        assert "succeeded" in sub.stdout
        assert Registry(str(tmp_path / "reg")).versions("technical") == [1]
    finally:
        head.terminate()  # stops this cluster only (never a blanket `ray stop`)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
