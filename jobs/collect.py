"""Collect job: Ray Data builds per-domain training sets from object storage.

inputs (JSONL / Parquet / dirs of .txt .md .json / builtin:)   local or s3://
  --RecordFiles read tasks (parse + shape, Arrow-vectorised for JSONL/Parquet)--> records [min, max] bytes
  --dedupe (exact hash; optional near-duplicate key)--> cap per domain (seeded rank)
  --split by document hash--> datasets/<domain>/<split>/*.parquet + datasets/<domain>/manifest.json

nbmf collect --input data/ --input s3://bucket/raw/ --domain legal --out s3://bucket/nbmf
ray job submit -- python -m jobs.collect --input builtin: --out /tmp/nbmf
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Iterator
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel, Field

from jobs.common import init_ray, run_or_exit
from nbmf.config import parse_config
from nbmf.corpus import DOMAINS
from nbmf.errors import InputError, NBMFError, StorageError
from nbmf.storage import Store

BUILTIN = "builtin:"
DROPPED = ["bad", "near", "rank"]  # working columns that the datasets do not keep


class CollectConfig(BaseModel):
    inputs: list[str] = Field(min_length=1, description="URIs of files or directories; 'builtin:' for this machine's corpus")
    out: str = Field(description="storage root; datasets go to <out>/datasets/<domain>/<split>/")
    domain: str | None = Field(None, description="domain of records that do not name one")
    min_bytes: int = Field(200, ge=1)
    max_bytes: int = Field(4096, ge=16)
    cap: int = Field(100_000, ge=1, description="records per domain at most")
    near_dedupe: bool = False
    seed: int = 0
    val: float = Field(0.05, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)
    write_mb: int = Field(
        64, ge=1, description="in-memory MB of records per write task; each writes one Parquet file per domain and split it holds"
    )
    class_policy: str | None = Field(
        None, description="YAML of record class -> (domain, fidelity) for warm-store records; default $NBMF_CLASS_POLICY or built in"
    )
    fail_on_bad: bool = False
    force: bool = False
    ray_address: str | None = None


def _expand(uri: str) -> tuple[Store, list[tuple[str, int, float]]]:
    """(store, [(path, size, mtime)]) of the files under ``uri`` (a file or a directory)."""
    import pyarrow.fs as pafs

    store = Store(uri)
    try:
        info = store.filesystem.get_file_info(store.path)
        if info.type == pafs.FileType.File:
            files = [info]
        elif info.type == pafs.FileType.Directory:
            base = store.path
            if _is_warm_store(store):  # a memory-service warm store: its records, not its other blobs
                base = store.child("records").path
            files = [i for i in store.filesystem.get_file_info(pafs.FileSelector(base, recursive=True)) if i.type == pafs.FileType.File]
        else:
            raise StorageError(f"input {uri} does not exist")
    except OSError as exc:
        raise StorageError(f"cannot list input {uri}: {exc}") from None
    out = [(i.path, i.size or 0, i.mtime.timestamp() if i.mtime else 0.0) for i in files if not i.base_name.startswith(".")]
    return store, sorted(out)


def _is_warm_store(store: Store) -> bool:
    """A directory holding ``records/<key>__<cls>.json`` (the memory service's warm-store layout)."""
    records = store.child("records")
    return any(n.endswith(".json") and "__" in n for n in records.list()[:50])


def _builtin_files(domains: set[str] | None = None) -> list[tuple[str, str]]:
    from nbmf.corpus import _sources

    return [(path, domain) for domain, paths in _sources(domains).items() for path in paths]


def fingerprint(files: list[tuple[str, int, float]]) -> str:
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()


def run(cfg: CollectConfig, progress: Any = print) -> dict[str, Any]:
    import numpy as np
    import ray

    from jobs.record_source import RecordFiles, keys_of
    from nbmf.selection import select_records

    t0 = time.time()
    out = Store(cfg.out)
    groups: list[tuple[Store, list[tuple[str, int]], str | None]] = []  # (store, [(path, size)], default domain)
    listing: list[tuple[str, int, float]] = []
    sources: dict[str, int] = {}
    seen: dict[tuple[bool, str, str], int] = {}  # a file that two inputs list is read once (else its records would be kept twice)
    for uri in cfg.inputs:
        if uri.startswith(BUILTIN):
            wanted = set(filter(None, uri[len(BUILTIN) :].split(",")))
            if unknown := sorted(wanted - set(DOMAINS)):
                raise InputError(f"{uri}: no built-in domain {', '.join(unknown)} (there are {', '.join(DOMAINS)})")
            by_domain: dict[str, list[str]] = {}
            for path, dom in _builtin_files(wanted or None):
                by_domain.setdefault(dom, []).append(path)
            root = Store("/")
            for dom, paths in sorted(by_domain.items()):
                paths = [p for p in paths if _first_listing(seen, root, p)]
                groups.append((root, [(p, _size(p)) for p in paths], dom))
                listing += [(p, 0, 0.0) for p in paths]
            sources[uri] = sum(len(p) for p in by_domain.values())
            progress(
                f"builtin corpus: {', '.join(f'{d} ({len(p)} files)' for d, p in sorted(by_domain.items())) or 'nothing on this machine'}"
            )
            continue
        store, files = _expand(uri)
        files = [f for f in files if _first_listing(seen, store, f[0])]
        listing += files
        sources[uri] = len(files)
        groups.append((store, [(p, size) for p, size, _ in files], cfg.domain))
    if not listing:
        raise InputError(f"no input files under {cfg.inputs}")
    if twice := [k[2] for k, n in seen.items() if n > 1]:
        progress(f"{len(twice)} files are listed by more than one input and read once (first: {twice[0]})")
    fp = fingerprint(listing)
    config_json = cfg.model_dump(mode="json", exclude={"force", "ray_address"})
    prev = out.read_versioned("datasets/manifest.json")[0]
    if prev and not cfg.force:
        old = json.loads(prev)
        if old.get("input_fingerprint") == fp and old.get("config") == config_json:
            progress("datasets are up to date with these inputs and config: nothing to do (--force rebuilds)")
            return dict(old)

    warnings.filterwarnings("ignore", message="Use 'expr' instead of 'fn'")
    init_ray(cfg.ray_address)
    from nbmf.envelope import key_from_env
    from nbmf.policy import ClassPolicy

    # warm-store records: their class names their domain; sealed files open with the service's key
    shape_args = (
        cfg.min_bytes,
        cfg.max_bytes,
        cfg.seed,
        cfg.val,
        cfg.test,
        cfg.near_dedupe,
        True,
        ClassPolicy.load(cfg.class_policy),
        key_from_env(),
    )

    to_read = [(gi, path, size, domain) for gi, (_, paths, domain) in enumerate(groups) for path, size in paths]
    source = RecordFiles([store.filesystem for store, _, _ in groups], to_read, shape_args)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    # a read task per file up to 4 per CPU (more when there is more than 64 MiB of input each);
    # override_num_blocks keeps Ray Data from slicing each task's output into many small blocks
    tasks = max(1, min(len(to_read), max(4 * cpus, sum(f[2] for f in to_read) // RecordFiles.BLOCK_BYTES)))
    with without_operator_reservation():  # the dataset keeps a snapshot of the context it was made in
        ds = ray.data.read_datasource(source, override_num_blocks=tasks)
    stages: dict[str, float] = {}
    t_stage = time.time()
    try:
        ds = ds.materialize()  # records stay in the object store; only their keys come to the driver
    except NBMFError as exc:  # raised in a read task: report the error itself, not Ray's task traceback
        raise getattr(exc, "cause", None) or exc from None
    stages["read_shape"] = time.time() - t_stage
    t_stage = time.time()
    keys = keys_of(ds)
    sel = select_records(keys, cfg.min_bytes, cfg.max_bytes, cfg.cap, cfg.near_dedupe)
    bad_rows = sel.bad.slice(0, 100).to_pylist()  # examples for the log and the manifest
    n_bad = len(sel.bad)
    for b in bad_rows[:20]:
        progress(f"skipped: {b}")
    if n_bad and cfg.fail_on_bad:
        raise InputError(f"{n_bad} malformed inputs (first: {bad_rows[0]}); rerun without --fail-on-bad to skip them")
    n_in, n_bounded, n_unique = sel.records_in, sel.in_bounds, sel.unique
    lo, hi = cfg.min_bytes, cfg.max_bytes
    recs_k = sel.kept.select(["domain", "split", "nbytes"]).to_pandas()
    stages["dedupe_cap"] = time.time() - t_stage
    progress(f"read and shaped {n_in} records in {stages['read_shape']:.1f} s; deduped and capped in {stages['dedupe_cap']:.1f} s")
    t_stage = time.time()
    if sel.kept.num_rows == keys.num_rows:  # every row stays (no malformed input, duplicate or cap): no filter
        kept = ds.drop_columns(DROPPED)
    else:
        keep = sel.kept.column("rid").combine_chunks()
        kept = ds.map_batches(_keep_rows, fn_kwargs={"keep": keep}, batch_format="pyarrow")  # vectorised, not per row
    # one pass writes every (domain, split) into a staging area; files then move into place
    staging = out.child("datasets", "_staging")
    out.filesystem.delete_dir_contents(staging.path, missing_dir_ok=True)
    kept.write_parquet(staging.path, filesystem=out.filesystem, partition_cols=["domain", "split"], min_bytes_per_file=cfg.write_mb << 20)
    stages["write"] = time.time() - t_stage
    _check_staged(out, staging, recs_k)
    summary: dict[str, Any] = {}
    for dom, dk in recs_k.groupby("domain", sort=True):
        info: dict[str, Any] = {"records": int(len(dk)), "splits": {}}
        for split in ("train", "val", "test"):
            sizes = dk[dk["split"] == split]["nbytes"]
            n = int(len(sizes))
            target = out.child("datasets", str(dom), split)
            for f in target.list():  # re-running replaces a split whole: idempotent
                target.delete(f)
            if not out.is_s3:
                out.filesystem.create_dir(target.path, recursive=True)
            src = staging.child(f"domain={dom}", f"split={split}")
            for f in src.list():
                if out.is_s3:  # object stores have no rename
                    _copy(out, src.full(f), target.full(f))
                else:
                    out.filesystem.move(src.full(f), target.full(f))
            info["splits"][split] = {
                "records": n,
                "bytes": int(sizes.sum()),
                "size_p5_p50_p95": [int(np.percentile(sizes, q)) for q in (5, 50, 95)] if n else [],
            }
        summary[str(dom)] = info
        dom_manifest = {"domain": dom, **info, "input_fingerprint": fp, "config": config_json}
        out.write_bytes(f"datasets/{dom}/manifest.json", json.dumps(dom_manifest, indent=2).encode())
        progress(f"{dom}: " + ", ".join(f"{k} {v['records']}" for k, v in info["splits"].items()))
    out.filesystem.delete_dir_contents(staging.path, missing_dir_ok=True)
    if staging.exists():
        out.filesystem.delete_dir(staging.path)
    manifest = {
        "domains": summary,
        "input_fingerprint": fp,
        "sources": sources,
        "config": config_json,
        "counts": {"records_in": n_in, "out_of_bounds": n_in - n_bounded, "duplicates": n_bounded - n_unique, "malformed": n_bad},
        "malformed_examples": bad_rows,
        "seconds": round(time.time() - t0, 1),
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
    }
    out.write_bytes("datasets/manifest.json", json.dumps(manifest, indent=2).encode())
    progress(
        f"collected {sum(d['records'] for d in summary.values())} records in {manifest['seconds']} s "
        f"({n_bad} malformed skipped, {n_in - n_bounded} outside [{lo}, {hi}] bytes, "
        f"{n_bounded - n_unique} duplicates) -> {out.uri}/datasets"
    )
    return manifest


@contextlib.contextmanager
def without_operator_reservation() -> Iterator[None]:
    """Ray Data's context for this job's pipelines: no per-operator resource reservation.

    Each of the job's executions is one fused operator (read+shape; filter+write). Ray Data 2.60's
    per-operator reservation gives an operator half the CPUs as its own and, in practice, never
    lends it the shared other half when it is alone: on 2 CPUs every task ran strictly one after
    another (10 tasks of 0.1 s: 1.17–1.25 s with reservation, 0.59–0.60 s without; BENCHMARKS.md).
    Reservation only arbitrates between concurrent operators, which these pipelines do not have.
    """
    import ray.data

    ctx = ray.data.DataContext.get_current()
    before = ctx.op_resource_reservation_enabled
    ctx.op_resource_reservation_enabled = False
    try:
        yield
    finally:
        ctx.op_resource_reservation_enabled = before


def _check_staged(out: Store, staging: Store, kept: Any) -> None:
    """Every (domain, split) staged holds exactly the records selected for it (Parquet footers only),
    checked before any dataset is replaced: a mismatch fails the run and leaves the datasets as they were."""
    import pyarrow.parquet as pq

    selected = kept.groupby(["domain", "split"]).size().to_dict()
    for (dom, split), n in sorted(selected.items()):
        src = staging.child(f"domain={dom}", f"split={split}")
        written = sum(pq.read_metadata(src.full(f), filesystem=out.filesystem).num_rows for f in src.list())
        if written != n:
            raise NBMFError(f"{dom}/{split}: {written} rows written for {n} selected records; the datasets were left as they were")


def _first_listing(seen: dict[tuple[bool, str, str], int], store: Store, path: str) -> bool:
    """Count a listing of ``path``; True the first time (the same endpoint and path: the same file)."""
    key = (store.is_s3, store.uri.partition("?")[2] if store.is_s3 else "", path if store.is_s3 else os.path.abspath(path))
    seen[key] = seen.get(key, 0) + 1
    return seen[key] == 1


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _keep_rows(batch: Any, keep: Any) -> Any:
    """Rows whose record id survived dedupe and caps (malformed-input rows never do)."""
    import pyarrow.compute as pc

    mask = pc.is_in(batch.column("rid"), value_set=keep)
    return batch.filter(pc.fill_null(mask, False)).drop_columns(DROPPED)


def _copy(store: Store, src: str, dst: str) -> None:
    """Object stores have no rename: copy, then delete."""
    store.filesystem.copy_file(src, dst)
    store.filesystem.delete_file(src)


def collect(
    input: Annotated[
        list[str], typer.Option("--input", help="File or directory URI (repeatable); 'builtin:' or 'builtin:legal,technical'.")
    ],
    out: Annotated[str, typer.Option("--out", help="Storage root (local dir or s3://bucket/prefix).")],
    domain: Annotated[Optional[str], typer.Option(help="Domain of records that do not name one.")] = None,
    min_bytes: Annotated[int, typer.Option(help="Smallest record kept.")] = 200,
    max_bytes: Annotated[int, typer.Option(help="Largest record kept; longer documents are split.")] = 4096,
    cap: Annotated[int, typer.Option(help="Records per domain at most.")] = 100_000,
    near_dedupe: Annotated[bool, typer.Option("--near-dedupe", help="Also drop near duplicates.")] = False,
    seed: Annotated[int, typer.Option()] = 0,
    fail_on_bad: Annotated[bool, typer.Option("--fail-on-bad", help="Fail on malformed input instead of skipping it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the inputs are unchanged.")] = False,
    address: Annotated[Optional[str], typer.Option("--address", help="Ray address (default: local or the job's cluster).")] = None,
    class_policy: Annotated[
        Optional[str], typer.Option("--class-policy", help="Class -> (domain, fidelity) YAML for warm-store records.")
    ] = None,
) -> None:
    """Collect training sets per domain with Ray Data (files, dirs, a memory-service warm store or its export)."""
    fields = dict(
        inputs=input, out=out, domain=domain, min_bytes=min_bytes, max_bytes=max_bytes, cap=cap,
        near_dedupe=near_dedupe, seed=seed, fail_on_bad=fail_on_bad, force=force, ray_address=address,
        class_policy=class_policy,
    )  # fmt: skip
    run_or_exit(lambda: run(parse_config(CollectConfig, fields, "nbmf collect")))


if __name__ == "__main__":
    typer.run(collect)
