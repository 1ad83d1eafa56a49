"""Train job: one Ray Train ``TorchTrainer`` per domain, data-parallel (DDP), all domains at once.

datasets/<domain>/{train,val}/*.parquet --Ray Data shards--> train_loop_per_worker (DDP, gloo/nccl)
  --ray.train.report(metrics, checkpoint)--> runs/<domain>-<run>/ (object storage; resumable)
  --best checkpoint--> build task: integer export + zstd dictionary + reference --> registry candidate

nbmf train --domains legal,technical --data /tmp/nbmf --registry /tmp/nbmf
ray job submit -- python -m jobs.train --domains legal,technical --data s3://b/nbmf --registry s3://b/nbmf
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel, Field

from jobs.common import RAY_CALLER_THREADS, init_ray, load_config, run_or_exit
from nbmf.config import ModelConfig, merged, parse_config
from nbmf.errors import NBMFError
from nbmf.storage import Store

READER_CPUS = 0.25  # CPUs each Ray Data read task asks for (see run)
LISTING_CPUS = 1.0  # kept free for Ray Data's file listing, which always takes one CPU


class TrainConfig(BaseModel):
    domains: list[str] = Field(min_length=1)
    data: str = Field(description="storage root holding datasets/<domain>/<split>/ (what collect wrote)")
    registry: str = Field(description="registry root; runs are kept under <registry>/runs/")
    run: str | None = Field(None, description="run id; default: hash of config + data manifests (same inputs resume)")
    model: ModelConfig = ModelConfig()
    model_by_domain: dict[str, ModelConfig] = Field(
        default_factory=dict,
        description="per domain, the model fields it sets otherwise than `model` (only those written here; nested "
        "fields one by one), e.g. {technical: {reference_bytes: 16777216}, general: {predictor_place: best}}. "
        "A domain this run does not train is ignored (and said so)",
    )
    workers_per_domain: int = Field(1, ge=1)
    cpus_per_worker: float = Field(0.5, gt=0, description="fractional on purpose: leaves CPU for Ray Data's readers")
    use_gpu: bool = False
    max_concurrent_domains: int | None = Field(
        None, ge=1, description="default (and at most): as many as the cluster can place with CPU left for Ray Data's readers"
    )
    records_per_batch: int = Field(
        256, ge=1, description="records per Ray Data batch; their tokens are shuffled and cut into steps on the worker's device"
    )
    shard_cache_mb: float = Field(
        1024,
        ge=0,
        description="a worker keeps the records of its first pass in memory, up to this many MB, and takes the later "
        "passes from there, shuffled whole, instead of starting Ray Data's pipeline again for each (0: never)",
    )
    eval_every: int = Field(200, ge=1)
    val_tokens: int = Field(
        65536,
        ge=1,
        description="held-out tokens each evaluation measures: an even sample of the val shard, read and packed once "
        "(a pass over a 1.3 MB val split every 200 steps took three quarters of a 180 s run)",
    )
    patience: int = Field(
        5,
        ge=1,
        description="evaluations without val improvement before early stopping, counted once the learning rate "
        "falls (lr_decay); with no decay, from the start",
    )
    keep_checkpoints: int = Field(2, ge=1)
    max_failures: int = Field(2, ge=0)
    progress_every_s: float = Field(10.0, gt=0, description="seconds between progress lines (one per domain that moved)")
    inject_failure_at_step: int | None = Field(None, description="testing: raise once at this step (first attempt only)")
    ray_address: str | None = None

    def for_domain(self, domain: str) -> TrainConfig:
        """This config as ``domain`` trains: ``model`` with the fields ``model_by_domain[domain]`` sets over it (what the
        workers, the build and the run's checkpoints see; they get no ``model_by_domain``)."""
        own = self.own_settings(domain)
        model = ModelConfig.model_validate(merged(self.model.model_dump(), own)) if own else self.model
        return self.model_copy(update={"model": model, "model_by_domain": {}})

    def own_settings(self, domain: str) -> dict[str, Any]:
        """The model fields ``domain`` sets otherwise than ``model`` (nested), as written."""
        own = self.model_by_domain.get(domain)
        return {} if own is None else own.model_dump(exclude_unset=True)


def _read_texts(store: Store, domain: str, split: str) -> list[bytes]:
    """The lossless bytes of a split's records (the build task's splits, each worker's val sample; not the driver)."""
    import pyarrow.parquet as pq

    d = store.child("datasets", domain, split)
    out: list[bytes] = []
    for f in d.list():
        if f.endswith(".parquet"):
            t = pq.read_table(d.full(f), filesystem=store.filesystem, columns=["text"])
            out += [s.encode("utf-8", "surrogatepass") for s in t.column("text").to_pylist()]
    return out


class ShardCache:
    """The records one worker read in its first pass over its shard, while they fit in ``limit_bytes``: the later
    passes are shuffled from here (every record, not a window of Ray Data's local shuffle buffer) and start at once.
    Each new pass through Ray Data starts its pipeline again (measured on 2 CPUs: 8.5 s per pass on 371 legal records,
    11.8 s more data time for financial's second pass in a 180 s run; on a GPU that is idle time, not measured). A
    worker that stopped its first pass early (all end each pass together) keeps what it read."""

    def __init__(self, limit_bytes: float) -> None:
        self.limit = limit_bytes
        self.batches: list[Any] | None = [] if limit_bytes > 0 else None
        self.size = 0

    def add(self, texts: Any) -> None:
        """A batch just read from Ray Data (in the first pass); past the limit the cache gives up and frees its records."""
        if self.batches is None:
            return
        self.size += sum(len(t) for t in texts)
        if self.size > self.limit:
            self.batches = None
        else:
            self.batches.append(texts)

    @property
    def usable(self) -> bool:
        return bool(self.batches)

    def passes(self, rng: Any, per_batch: int) -> Iterator[Any]:
        """One pass: every cached record once, in a new order, ``per_batch`` records at a time."""
        import numpy as np

        assert self.batches
        records = np.concatenate(self.batches)
        order = rng.permutation(len(records))
        for i in range(0, len(order), per_batch):
            yield records[order[i : i + per_batch]]


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Runs on every worker: resume, wrap in DDP, train on this worker's shard, report and checkpoint."""
    import numpy as np
    import ray.train
    import ray.train.torch
    import torch

    from nbmf.neural.model import (
        BytePredictor,
        bad_evals_after,
        budget_used,
        loss_fn,
        lr_factor,
        optimizer,
        packed,
        set_lr,
        train_step,
        windows_at,
    )

    cfg = TrainConfig.model_validate(config["cfg"])  # validated again in the worker
    ncfg = cfg.model.neural
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(ncfg.seed + rank)
    torch.set_num_threads(max(1, int(round(cfg.cpus_per_worker))))
    model = BytePredictor(ncfg)
    opt = optimizer(model)
    step, best, bad_evals, resumed_from = 0, float("inf"), 0, None
    ckpt = ray.train.get_checkpoint()
    state = None
    best_model: dict[str, Any] | None = None
    if ckpt is not None:  # the model's weights go in before prepare_model: DDP would prefix the keys with "module."
        with ckpt.as_directory() as d:  # saved from GPU tensors on a GPU run: load onto the CPU, whatever this worker has
            state = torch.load(os.path.join(d, "state.pt"), map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        best_model = state.get("best_model")
        step, best, bad_evals = int(state["step"]), float(state["best"]), int(state["bad_evals"])
        resumed_from = step
    device = ray.train.torch.get_device()
    ddp = ray.train.torch.prepare_model(model)  # ``model`` stays the unwrapped module (same parameters, now on ``device``)
    if state is not None:  # after the move: load_state_dict puts Adam's moments on the parameters' device
        opt.load_state_dict(state["opt"])
    board = None
    if rank == 0 and config.get("run"):
        from jobs.progress import find_board

        board = find_board(config["run"])
    domain = str(config.get("domain", ""))

    def post(**status: Any) -> None:
        if board is not None:
            board.post.remote(domain, status)  # fire and forget: progress never waits on the board

    post(step=step, start_step=step, max_steps=ncfg.max_steps, time_budget_s=ncfg.time_budget_s, resumed_from=resumed_from, elapsed_s=0.0)
    train_shard = ray.train.get_dataset_shard("train")
    rng = np.random.default_rng(ncfg.seed * 1000 + rank + step)

    def val_bpb() -> tuple[float, int]:
        """Bits per byte on the val sample, and how many tokens it measured (all workers)."""
        buf, pos = val_sample
        tot = torch.zeros(2, dtype=torch.float64, device=device)  # NCCL reduces GPU tensors only
        model.eval()  # not DDP's forward: it broadcasts buffers, and a worker with fewer val records would call it fewer times
        with torch.no_grad():
            for i in range(0, len(pos), 8192):
                ct, tt = windows_at(buf, pos[i : i + 8192], ncfg.context)
                tot[0] += loss_fn(model, ct, tt).double() * len(tt)
                tot[1] += len(tt)
        if world > 1:
            torch.distributed.all_reduce(tot)
        return float(tot[0]) / max(float(tot[1]), 1.0), int(tot[1])

    def sample_val() -> tuple[torch.Tensor, torch.Tensor]:
        """This worker's share of the val split (every world-th record, sorted), read once straight from storage, and
        an even sample of ``val_tokens`` of its positions: every evaluation of a run measures the same tokens. Read
        through Ray Data, the val split started a pipeline of its own on every worker: 18.7-20.2 s on 2 CPUs."""
        data = Store(cfg.data)
        everything = _read_texts(data, domain, "val")
        if not everything:  # measured on nothing, every evaluation would read 0 bits/byte and stop the run early
            raise NBMFError(f"{domain}: no val records under {data.child('datasets', domain, 'val').uri}")
        records = sorted(everything)[rank::world]
        packed_buf, packed_pos = packed(records, ncfg.context)
        buf, pos = torch.from_numpy(packed_buf).to(device), torch.from_numpy(packed_pos).to(device)
        if len(pos) > cfg.val_tokens:
            pos = pos[torch.linspace(0, len(pos) - 1, cfg.val_tokens, dtype=torch.float64, device=pos.device).long()]
        return buf, pos

    shuffle_gen = torch.Generator(device=device)
    shuffle_gen.manual_seed(int(rng.integers(1 << 62)))

    def on_device(texts: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of records as a packed byte buffer and its target positions, shuffled, on the worker's device: the
        windows are cut there (``windows_at``), so the host sends 9 bytes per token, not 136."""
        buf, pos = packed([s.encode("utf-8", "surrogatepass") for s in texts], ncfg.context)
        pos_d = torch.from_numpy(pos).to(device)
        return torch.from_numpy(buf).to(device), pos_d[torch.randperm(len(pos_d), generator=shuffle_gen, device=device)]

    cache = ShardCache(cfg.shard_cache_mb * 1e6)
    from_cache = False  # the passes after the first come from ``cache`` (every worker or none: ``agree_cache``)

    def record_batches() -> Iterator[Any]:
        """This pass's records, a batch at a time: from Ray Data (the first pass: also into the cache), or the cache."""
        if from_cache:
            yield from cache.passes(rng, cfg.records_per_batch)
            return
        shuffle = max(256, 2 * cfg.records_per_batch)
        for batch in train_shard.iter_batches(batch_size=cfg.records_per_batch, batch_format="numpy", local_shuffle_buffer_size=shuffle):
            if passes == 0:
                cache.add(batch["text"])
            yield batch["text"]

    def one_pass() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This worker's optimizer steps of one pass over its shard: (contexts, targets), cut on the device once per
        batch of records (bytes, widened in the model) and sliced per step. Cut per step, the few small operations
        were launched on a GPU 70 times per batch: 39 s of a 253 s H200 run went to the data path (issue #15)."""
        for texts in record_batches():
            buf, pos = on_device(texts)
            n = len(pos) - len(pos) % ncfg.batch_size
            if n == 0:
                continue
            ct, tt = windows_at(buf, pos[:n], ncfg.context, widen=False)
            for i in range(0, n, ncfg.batch_size):
                yield ct[i : i + ncfg.batch_size], tt[i : i + ncfg.batch_size]

    def agree_cache() -> bool:
        """After the first pass: whether every worker kept its records. All must leave Ray Data together, or one that
        stays would wait at the split's epoch barrier for the others."""
        ok = cache.usable
        if world > 1:
            flag = torch.tensor([0.0 if ok else 1.0], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            ok = float(flag[0]) == 0.0
        if not ok:
            cache.batches = None  # free what this worker kept
        return ok

    t0, tokens, recent, step_time = time.time(), 0, [], 0.0  # step_time: optimizer steps only (no data, no eval)
    data_time = eval_time = 0.0  # waiting for Ray Data's batches, packing them, cutting windows; evaluations and checkpoints
    first_batch = None  # seconds to the first batch: Ray Data's start, paid once per run
    # The time budget counts training: its clock starts once the first train batch is here. Ray Data's start-up
    # took 35-50 s of a 180 s budget with two domains on 2 CPUs.
    val_sample = sample_val()
    val_read_s = time.time() - t0
    clock0 = t0
    posted_at = t0
    done = step >= ncfg.max_steps
    passes = 0
    set_lr(opt, ncfg.lr * lr_factor(ncfg, budget_used(ncfg, step, 0.0)))  # a resumed run may be past the decay's start

    def agree(has_step: bool) -> tuple[float, bool]:
        """Seconds since this attempt's first batch, the same on every worker (the slowest one's), and whether every
        worker has another step in this pass. All workers take each step together (DDP all-reduces its gradients),
        so they must stop at the same step and end each pass at the same step: a worker that ran out of its shard
        first and started the next pass would wait at Ray Data's epoch barrier for one that waits in an all-reduce
        for it, forever. Their learning rates follow the shared clock."""
        elapsed = time.time() - clock0
        if world == 1:
            return elapsed, has_step
        both = torch.tensor([elapsed, 0.0 if has_step else 1.0], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX)
        return float(both[0]), float(both[1]) == 0.0

    while not done:
        steps, in_pass = one_pass(), 0
        while not done:
            wait_from = time.perf_counter()
            nxt = next(steps, None)
            data_time += time.perf_counter() - wait_from
            if first_batch is None:
                clock0 = time.time()
                first_batch = clock0 - t0 - val_read_s
            elapsed, all_have = agree(nxt is not None)
            if nxt is None or not all_have:  # the pass ends for all at once; the rest of a longer shard is skipped
                break
            ct, tt = nxt
            s0 = time.perf_counter()
            recent.append(train_step(ddp, opt, ct, tt))
            step_time += time.perf_counter() - s0
            step += 1
            in_pass += 1
            tokens += len(tt)
            if cfg.inject_failure_at_step is not None and step == cfg.inject_failure_at_step and resumed_from is None:
                raise RuntimeError(f"injected failure at step {step} (testing resume)")
            now = time.time()
            out_of_time = elapsed >= ncfg.time_budget_s
            set_lr(opt, ncfg.lr * lr_factor(ncfg, budget_used(ncfg, step, elapsed)))
            if now - posted_at > 2.0:
                posted_at = now
                rate = tokens * world / max(now - clock0, 1e-9)
                post(step=step, elapsed_s=now - clock0, tokens_per_s=rate, train_bpb=float(np.mean(recent[-50:])))
            if step % cfg.eval_every == 0 or step >= ncfg.max_steps or out_of_time:
                e0 = time.perf_counter()
                vb, val_measured = val_bpb()
                improved = vb < best - 1e-4
                bad_evals = bad_evals_after(ncfg, bad_evals, improved, budget_used(ncfg, step, elapsed))
                best = vb if improved else best
                if improved and rank == 0:  # the weights publish takes: the best seen, not the last
                    best_model = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
                done = step >= ncfg.max_steps or out_of_time or bad_evals >= cfg.patience
                metrics = {
                    "step": step,
                    "train_bpb": float(np.mean(recent[-50:])),
                    "val_bpb": vb,
                    "val_tokens": val_measured,
                    "best_val_bpb": best,
                    "tokens_per_s_per_worker": tokens / max(time.time() - t0, 1e-9),  # wall: data + eval included
                    "step_tokens_per_s_per_worker": tokens / max(step_time, 1e-9),
                    "wall_s": time.time() - t0,  # where it went: steps, data (Ray Data + packing), eval + checkpoints
                    "step_s": step_time,
                    "data_s": data_time,
                    "first_batch_s": first_batch or 0.0,
                    "val_read_s": val_read_s,
                    "eval_s": eval_time + (time.perf_counter() - e0),
                    "resumed_from_step": -1 if resumed_from is None else resumed_from,
                    "world_size": world,
                    "passes": passes,  # whole passes over the shard finished (all workers end each pass together)
                    "shard_cached": from_cache,  # the passes after the first read each worker's records from memory
                    "stopped_early": bad_evals >= cfg.patience,
                }
                post(step=step, elapsed_s=time.time() - clock0, val_bpb=vb, train_bpb=metrics["train_bpb"])
                with tempfile.TemporaryDirectory() as d:
                    checkpoint = None
                    if rank == 0:
                        state = {
                            "model": model.state_dict(),
                            "best_model": best_model if best_model is not None else model.state_dict(),
                            "opt": opt.state_dict(),
                            "step": step,
                            "best": best,
                            "bad_evals": bad_evals,
                        }
                        torch.save(state, os.path.join(d, "state.pt"))
                        with open(os.path.join(d, "config.json"), "w") as f:
                            f.write(cfg.model_dump_json())  # every checkpoint carries its config
                        checkpoint = ray.train.Checkpoint.from_directory(d)
                    ray.train.report(metrics, checkpoint=checkpoint)
                eval_time += time.perf_counter() - e0
        steps.close()  # ends this worker's read of the pass (Ray Data's split is told it is done)
        if not done:
            if in_pass == 0:
                raise NBMFError(
                    f"{domain}: a pass over the train shard gives a worker no step of {ncfg.batch_size} tokens "
                    f"(batch_size) at records_per_batch={cfg.records_per_batch}: collect more records, or train on fewer workers"
                )
            if passes == 0:
                from_cache = agree_cache()
            passes += 1
    if step >= ncfg.max_steps and tokens == 0:  # a finished run re-submitted: report, nothing to redo
        ray.train.report({"step": step, "best_val_bpb": best, "resumed_from_step": step, "tokens_per_s_per_worker": 0.0, "val_bpb": best})


def build_and_publish(
    cfg_json: str, domain: str, checkpoint_path: str | None, metrics: dict[str, Any], run: str | None = None
) -> dict[str, Any]:
    """Ray task: integer model from the run's best weights (kept in every checkpoint) + dictionary + reference -> candidate.
    ``run``: whose progress board hears what the build is doing (each priming, each choice made on the check records).
    ``checkpoint_path`` None: a model without a predictor (``use_neural`` false), of which nothing was trained."""
    import pyarrow.fs as pafs
    import ray
    import torch

    from jobs.progress import Poster
    from nbmf.neural.build import build_files, build_threads, publish
    from nbmf.neural.model import BytePredictor, export_int
    from nbmf.registry import Registry

    cfg = TrainConfig.model_validate_json(cfg_json)
    store = Store(cfg.data)
    reg_store = Store(cfg.registry)
    weights = None
    if checkpoint_path is not None and cfg.model.use_neural:
        with tempfile.TemporaryDirectory() as d:
            pafs.copy_files(checkpoint_path, d, source_filesystem=reg_store.filesystem, destination_filesystem=pafs.LocalFileSystem())
            state = torch.load(os.path.join(d, "state.pt"), map_location="cpu", weights_only=True)  # a CPU task, a GPU run's tensors
        model = BytePredictor(cfg.model.neural)
        model.load_state_dict(state.get("best_model", state["model"]))  # the best validation, not the last step
        weights = export_int(model)
    train_b, val_b = _read_texts(store, domain, "train"), _read_texts(store, domain, "val")
    say = Poster(run, domain)
    # the CPUs this task holds (called outside Ray, as bench/gpu_build.py does: one)
    threads = build_threads(ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0) if ray.is_initialized() else 1)
    files, build_metrics = build_files(train_b, val_b, cfg.model, weights, say, threads)
    build_metrics.update({f"train_{k}": v for k, v in metrics.items()}, build_threads=threads)
    data_manifest = json.loads(store.read_bytes(f"datasets/{domain}/manifest.json"))
    man = publish(Registry(cfg.registry), domain, files, cfg.model, build_metrics, data_manifest)
    say(f"published as version {man.version}")
    say.flush()
    return {"domain": domain, "version": man.version, "metrics": build_metrics}


def _already_published(registry: str, domain: str, run_name: str, step: Any) -> dict[str, Any] | None:
    """A version this run already published from the same final step (a re-run publishes nothing new)."""
    from nbmf.registry import Registry

    reg = Registry(registry)
    for v in reversed(reg.versions(domain)):
        m = reg.manifest(domain, v).metrics
        if m.get("train_run") == run_name and m.get("train_step") == step:
            return {"domain": domain, "version": v, "metrics": m}
    return None


# The settings that give the predictor's weights their shapes: a checkpoint loads only into the same ones.
WEIGHT_SHAPE_FIELDS = ("context", "first_layer", "dim", "hidden")
# What a setting was before it existed, for checkpoints whose config.json predates it.
BEFORE_FIELD: dict[str, Any] = {"first_layer": "factored"}  # the only kind before 2026-12-02


def check_resumable(runs: Store, run_name: str, cfg: TrainConfig) -> None:
    """Fail before training when the run's checkpoints hold weights of other shapes than ``cfg`` builds.

    Without this a resumed run dies inside torch's ``load_state_dict`` ("Missing key(s) ...") on every worker,
    retried ``max_failures`` times, with nothing that says which setting to pass."""
    configs = [f"{run_name}/{n}/config.json" for n in runs.list(run_name) if n.startswith("checkpoint_")]  # and Ray's
    configs = [c for c in configs if runs.exists(c)]  # checkpoint_manager_snapshot.json, which is no checkpoint
    if not configs:
        return
    saved = json.loads(runs.read_bytes(configs[-1])).get("model", {}).get("neural", {})
    theirs = {f: saved.get(f, BEFORE_FIELD.get(f)) for f in WEIGHT_SHAPE_FIELDS}
    ours = cfg.model.neural.model_dump()
    differ = {f: (theirs[f], ours[f]) for f in WEIGHT_SHAPE_FIELDS if theirs[f] != ours[f]}
    if differ:
        pairs = ", ".join(f"model.neural.{f}: {a!r} (this config: {b!r})" for f, (a, b) in differ.items())
        raise NBMFError(
            f"run {run_name} cannot resume with this config: its checkpoints were trained with {pairs}. "
            f"Set those in --config to resume it, or leave out --run to start a new run "
            f"(its checkpoints: {runs.full(run_name)})"
        )


def run_id(cfg: TrainConfig) -> str:
    """Same config and same data manifests -> same run id -> a re-run resumes instead of restarting."""
    store = Store(cfg.data)
    h = hashlib.sha256(cfg.model.model_dump_json().encode())
    for d in sorted(cfg.domains):  # a domain's own model fields too (none: the ids of before they existed)
        if cfg.own_settings(d):
            h.update(f"{d}:{cfg.for_domain(d).model.model_dump_json()}".encode())
        h.update(store.read_bytes(f"datasets/{d}/manifest.json"))
    return h.hexdigest()[:10]


def run(cfg: TrainConfig, progress: Any = print) -> dict[str, Any]:
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    init_ray(cfg.ray_address)
    # what the workers and the build task read: the same places, whatever directory Ray runs them in
    cfg = cfg.model_copy(update={"data": Store(cfg.data).resolved_uri, "registry": Store(cfg.registry).resolved_uri})
    rid = cfg.run or run_id(cfg)
    data, reg = Store(cfg.data), Store(cfg.registry)
    runs = reg.child("runs")
    cluster_cpus = ray.cluster_resources().get("CPU", 1.0)
    per_domain = cfg.workers_per_domain * cfg.cpus_per_worker
    # Ray Data's readers need CPU while workers train: every domain at once took all CPUs of a 2-CPU node
    # and its readers never ran (issue #14: "the job may hang forever"). Read tasks ask for READER_CPUS,
    # but Ray Data 2.60's file listing (ListFiles, run again each epoch) takes a whole CPU that no option
    # lowers; so the domains trained at once leave LISTING_CPUS free.
    if cluster_cpus < per_domain + LISTING_CPUS:
        raise NBMFError(
            f"this cluster has {cluster_cpus:g} CPUs; one domain needs {per_domain:g} for its workers "
            f"({cfg.workers_per_domain} x {cfg.cpus_per_worker:g}) plus {LISTING_CPUS:g} for its data readers: "
            "lower --cpus-per-worker or --workers-per-domain, or add CPUs"
        )
    fits = max(1, int((cluster_cpus - LISTING_CPUS) // per_domain))
    fit_at_once = min(cfg.max_concurrent_domains or fits, fits, len(cfg.domains))
    progress(
        f"training {len(cfg.domains)} domain(s) {cfg.domains} (run {rid}), {fit_at_once} at a time: "
        f"{cfg.workers_per_domain} worker(s) x {cfg.cpus_per_worker:g} CPU each"
    )
    reg_root = cfg.registry
    from nbmf.neural.build import BUILD_THREADS

    # a build primes its open choices (order sets off and on) at once where it holds two CPUs (``build_threads``):
    # half the node's where another domain may train or build beside it, all of a small node's for one domain alone
    build_remote = ray.remote(num_cpus=min(float(BUILD_THREADS), cluster_cpus / (1 if len(cfg.domains) == 1 else 2)))(build_and_publish)
    lock = threading.Lock()
    results: dict[str, Any] = {}

    def train_domain(domain: str) -> None:
        dcfg = cfg.for_domain(domain)  # ``model`` with the domain's own fields: what its workers and its build take
        for split in ("train", "val"):
            if not data.child("datasets", domain, split).list():
                raise FileNotFoundError(
                    f"no {split} data for {domain} under {data.uri}/datasets/{domain}/{split}: run `nbmf collect` first"
                )
        # fractional CPUs: schedulable beside the training workers. The val split is small: each worker reads its
        # share straight from storage (``sample_val``).
        run_name = f"{domain}-{rid}"
        if not dcfg.model.use_neural:  # no predictor to train: the build alone (it still makes its choices on val)
            progress(f"{domain}: no predictor to train (model.use_neural is false): building the codec without one…")
            metrics: dict[str, Any] = {"run": run_name, "step": 0}
            built = _already_published(reg_root, domain, run_name, 0)
            if built is None:
                built = ray.get(build_remote.remote(dcfg.model_dump_json(), domain, None, metrics, rid))
            progress(f"{domain}: published candidate {domain}@{built['version']} (val {built['metrics']['val_bpb_neural']:.3f} bits/byte)")
            with lock:
                results[domain] = {"version": built["version"], "run": run_name, "train_metrics": metrics, "metrics": built["metrics"]}
            return
        datasets: dict[str, Any] = {
            "train": ray.data.read_parquet(
                data.child("datasets", domain, "train").path, filesystem=data.filesystem, num_cpus=READER_CPUS
            ).select_columns(["text"], num_cpus=READER_CPUS)
        }
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={"cfg": dcfg.model_dump(mode="json"), "domain": domain, "run": rid},
            scaling_config=ScalingConfig(
                num_workers=cfg.workers_per_domain, use_gpu=cfg.use_gpu, resources_per_worker={"CPU": cfg.cpus_per_worker}
            ),
            run_config=RunConfig(
                name=f"{domain}-{rid}",
                storage_path=runs.path,
                storage_filesystem=runs.filesystem,
                checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
                failure_config=FailureConfig(max_failures=cfg.max_failures),
            ),
            datasets=datasets,
        )
        result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError(f"{domain}: training produced no checkpoint")
        metrics = dict(result.metrics or {}) | {"run": run_name}
        progress(f"{domain}: trained to step {metrics.get('step')} (val {metrics.get('val_bpb', float('nan')):.3f} bits/byte)")
        built = _already_published(reg_root, domain, run_name, metrics.get("step"))
        if built is None:
            progress(f"{domain}: building the integer model…")
            built = ray.get(build_remote.remote(dcfg.model_dump_json(), domain, result.checkpoint.path, metrics, rid))
        progress(
            f"{domain}: published candidate {domain}@{built['version']} (val {built['metrics']['val_bpb_neural']:.3f} bits/byte end to end)"
        )
        with lock:
            results[domain] = {"version": built["version"], "run": run_name, "train_metrics": metrics, "metrics": built["metrics"]}

    for domain in cfg.domains:  # before any domain trains: one that cannot resume would stop the job midway
        check_resumable(runs, f"{domain}-{rid}", cfg.for_domain(domain))
        if cfg.own_settings(domain):
            progress(f"{domain}: its own model fields {json.dumps(cfg.own_settings(domain))}")
    if unused := sorted(set(cfg.model_by_domain) - set(cfg.domains)):
        progress(f"model_by_domain names {', '.join(unused)}, not trained in this run: ignored")
    from jobs.progress import Watcher, format_training, start_board

    board = start_board(rid)
    progress(f"progress every {cfg.progress_every_s:g} s: step, tokens/s, bits/byte (train · val), time left of the budget")
    pool = ThreadPoolExecutor(max_workers=fit_at_once, thread_name_prefix=f"{RAY_CALLER_THREADS}fit")
    try:
        with Watcher(board, format_training, progress, cfg.progress_every_s):
            for fut in [pool.submit(train_domain, d) for d in cfg.domains]:
                fut.result()
    finally:  # on Ctrl-C / SIGTERM: do not wait for trainers that Ray's shutdown is about to stop
        pool.shutdown(wait=False, cancel_futures=True)
        if ray.is_initialized():
            ray.kill(board)
    return results


def train(
    domains: Annotated[Optional[str], typer.Option(help="Comma-separated domains.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Storage root with datasets/ (from `nbmf collect`).")] = None,
    registry: Annotated[Optional[str], typer.Option(help="Registry root URI (runs go to <registry>/runs).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="YAML/JSON TrainConfig; flags given override it.")] = None,
    workers_per_domain: Annotated[Optional[int], typer.Option(help="DDP workers per domain.")] = None,
    cpus_per_worker: Annotated[Optional[float], typer.Option(help="CPUs per worker (fractional leaves room for Ray Data).")] = None,
    use_gpu: Annotated[bool, typer.Option("--use-gpu", help="One GPU per worker (NCCL).")] = False,
    max_steps: Annotated[Optional[int], typer.Option(help="Training steps at most.")] = None,
    time_budget: Annotated[
        Optional[float],
        typer.Option(
            help="Seconds of training per domain at most, counted from its first batch (not Ray Data's start); the build after"
            " it is not counted (it primes the reference text several times: docs/NEURAL.md, Costs)."
        ),
    ] = None,
    reference_mb: Annotated[Optional[float], typer.Option(help="MiB of domain text the model is primed with (default 32).")] = None,
    run: Annotated[Optional[str], typer.Option(help="Run id (default: derived from config and data: same inputs resume).")] = None,
    address: Annotated[Optional[str], typer.Option("--address", help="Ray address.")] = None,
) -> None:
    """Train every domain in parallel with Ray Train and publish each as a candidate version."""
    base: dict[str, Any] = load_config(config) if config else {}
    flags = {
        "data": data,
        "registry": registry,
        "run": run,
        "workers_per_domain": workers_per_domain,
        "cpus_per_worker": cpus_per_worker,
        "ray_address": address,
    }
    base.update({k: v for k, v in flags.items() if v is not None})
    if domains:
        base["domains"] = [d for d in domains.split(",") if d]
    if use_gpu:
        base["use_gpu"] = True
    neural = {k: v for k, v in (("max_steps", max_steps), ("time_budget_s", time_budget)) if v is not None}
    flagged: dict[str, Any] = {"neural": neural} if neural else {}  # nothing where no flag is given (a domain's own fields stay its own)
    if reference_mb is not None:
        flagged["reference_bytes"] = int(reference_mb * (1 << 20))
    # the model flags given hold for every domain: over ``model`` and over what ``model_by_domain`` sets
    base["model"] = merged(base.get("model") or {}, flagged)
    if isinstance(base.get("model_by_domain"), dict):
        base["model_by_domain"] = {d: merged(m, flagged) if isinstance(m, dict) else m for d, m in base["model_by_domain"].items()}
    source = f"{config} (with the flags given)" if config else "nbmf train"
    out = run_or_exit(lambda: run_training(parse_config(TrainConfig, base, source)))
    typer.echo(json.dumps({d: {"version": r["version"], "val_bpb": r["metrics"]["val_bpb_neural"]} for d, r in out.items()}, indent=2))


run_training = run

if __name__ == "__main__":
    typer.run(train)
