"""Migrate job: Ray Data re-encodes a memory-service warm store with the production models, verified, nothing dropped.

store/records/*.json (any generation, sealed or not)
  --Ray Data: batches of file names--> Migrator actors (one NBMF per actor: models load once)
      read -> decode -> re-encode (production model of the class's domain) -> decode again, compare -> write
  --> <out>/records/  (or, in place: <store>/records.migrating/, then one rename switches it in;
      the old records stay beside it as records.pre-nbmf-<time>/)
  --> report: records, bytes before/after, ratio, counts per (domain, version, codec), every record not migrated

nbmf migrate --store /srv/memory --out /srv/memory-nbmf --registry s3://bucket/nbmf
ray job submit -- python -m jobs.migrate --store s3://bucket/memory --out s3://bucket/memory-nbmf --registry s3://bucket/nbmf
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import time
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel, Field

from jobs.common import init_ray, run_or_exit
from nbmf.config import parse_config
from nbmf.errors import InputError
from nbmf.storage import Store
from nbmf.warm_store import RECORDS

STAGING = "records.migrating"


class MigrateConfig(BaseModel):
    store: str = Field(description="warm-store root (holds records/), local dir or s3://")
    out: str | None = Field(None, description="new root to write; none: in place (staged, then one switch; local stores only)")
    registry: str | None = Field(None, description="models registry; none: $NBMF_REGISTRY, else everything is coded by the stub")
    class_policy: str | None = Field(None, description="class -> (domain, fidelity) YAML; default $NBMF_CLASS_POLICY or built in")
    batch_size: int = Field(256, ge=1)
    workers: int | None = Field(None, ge=1, description="migrating actors (default: the cluster's CPUs)")
    ray_address: str | None = None


class Migrator:
    """A Ray Data actor: owns one NBMF codec (its models load once) and writes the files it migrates."""

    def __init__(self, source: str, target: str, registry: str | None, policy_json: str, aes_key: bytes | None) -> None:
        from nbmf.memory import codec_for
        from nbmf.policy import ClassPolicy

        self.source, self.target = Store(source).child(RECORDS), Store(target)
        self.codec = codec_for(registry)
        self.policy = ClassPolicy.model_validate_json(policy_json)
        self.key = aes_key

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from nbmf.migration import migrate_record

        rows: dict[str, list[Any]] = collections.defaultdict(list)
        for name in batch["name"]:
            name = str(name)
            t0 = time.perf_counter()
            try:
                data = self.source.read_bytes(name)
            except Exception as exc:  # noqa: BLE001 - a file that vanished or storage that failed: listed, job goes on
                _append(rows, name=name, status="unreadable", error=f"{type(exc).__name__}: {exc}"[:500])
                continue
            m = migrate_record(name, data, self.codec, self.policy, self.key)
            self.target.write_bytes(name, m.data)  # the new file, or the original bytes unchanged
            _append(
                rows, name=name, status=m.status, cls=m.cls, domain=m.domain, generation=m.generation, version=m.version or 0,
                codec=m.codec, blob_before=m.blob_bytes_before, blob_after=m.blob_bytes_after, file_before=len(data),
                file_after=len(m.data), error=m.error or "", seconds=time.perf_counter() - t0,
            )  # fmt: skip
        return dict(rows)


_FIELDS = {"cls": "", "domain": "", "generation": "", "version": 0, "codec": "", "blob_before": 0, "blob_after": 0}
_FIELDS |= {"file_before": 0, "file_after": 0, "error": "", "seconds": 0.0}


def _append(rows: dict[str, list[Any]], **values: Any) -> None:
    for k, default in {"name": "", "status": "", **_FIELDS}.items():
        rows[k].append(values.get(k, default))


PROGRESS_EVERY_S = 10.0


def _collect_rows(out: Any, total: int, t0: float, progress: Any) -> Any:
    """The per-record results as they come, with a progress line every ``PROGRESS_EVERY_S``."""
    import pandas as pd

    frames, done, shown = [], 0, time.time()
    for batch in out.iter_batches(batch_format="pandas", batch_size=None):
        frames.append(batch)
        done += len(batch)
        if time.time() - shown >= PROGRESS_EVERY_S or done == total:
            shown = time.time()
            progress(f"  {done:,}/{total:,} records migrated ({done / max(shown - t0, 1e-9):.0f} records/s)")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run(cfg: MigrateConfig, progress: Any = print) -> dict[str, Any]:
    import ray

    from nbmf.envelope import key_from_env
    from nbmf.policy import ClassPolicy

    t0 = time.time()
    src = Store(cfg.store)
    names = [n for n in src.child(RECORDS).list() if n.endswith(".json") and not n.startswith(".")]
    if not names:
        raise InputError(f"no records under {src.child(RECORDS).uri}: is {cfg.store} a warm-store root (it holds records/)?")
    in_place = cfg.out is None
    if in_place and src.is_s3:
        raise InputError("in-place migration needs one atomic switch, which object storage has not: give --out (a new root)")
    target = src.child(STAGING) if in_place else Store(cfg.out).child(RECORDS)  # type: ignore[arg-type]
    if in_place and target.exists():
        src.filesystem.delete_dir(target.path)  # a staging area left by an interrupted run
    policy = ClassPolicy.load(cfg.class_policy)
    init_ray(cfg.ray_address)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = cfg.workers or cpus
    progress(f"migrating {len(names)} records of {cfg.store} with {workers} workers -> {target.uri}")
    ds = ray.data.from_items([{"name": n} for n in names], override_num_blocks=max(1, min(len(names) // cfg.batch_size, 4 * workers)))
    out = ds.map_batches(
        Migrator,
        fn_constructor_args=(cfg.store, target.uri, cfg.registry, policy.model_dump_json(), key_from_env()),
        batch_size=cfg.batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=min(1.0, cpus / workers) * 0.9,  # leaves room for Ray Data's own tasks on a small node
        batch_format="numpy",
    )
    rows = _collect_rows(out, len(names), t0, progress)
    seconds = time.time() - t0
    if len(rows) != len(names):
        raise InputError(f"{len(rows)} results for {len(names)} records; nothing was switched")
    if not in_place:
        _copy_others(src, Store(cfg.out))  # type: ignore[arg-type]
    else:
        backup = f"{RECORDS}.pre-nbmf-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}"
        src.filesystem.move(src.child(RECORDS).path, src.child(backup).path)
        src.filesystem.move(target.path, src.child(RECORDS).path)
        progress(f"switched {cfg.store}/records to the migrated files; the old ones are in {backup}/")
    report = _report(cfg, rows, seconds)
    root = Store(cfg.out) if cfg.out else src
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    root.write_bytes(f"migration/report-{stamp}.json", json.dumps(report, indent=2).encode())
    progress(format_report(report))
    progress(f"report: {root.uri}/migration/report-{stamp}.json")
    return report


def _copy_others(src: Store, dst: Store) -> None:
    """Everything beside records/ (the store's other blobs) is copied unchanged to the new root."""
    for rel in src.list(recursive=True):
        top = rel.split("/", 1)[0]
        if top in (RECORDS, STAGING, "migration") or top.startswith(f"{RECORDS}.pre-nbmf"):
            continue
        import pyarrow.fs as pafs

        if src.filesystem.get_file_info(src.full(rel)).type == pafs.FileType.File:
            dst.write_bytes(rel, src.read_bytes(rel))


def _report(cfg: MigrateConfig, rows: Any, seconds: float) -> dict[str, Any]:
    ok = rows[rows["status"] == "migrated"]
    by_model = ok.groupby(["domain", "version", "codec"]).size().reset_index(name="records")
    before, after = int(ok["blob_before"].sum()), int(ok["blob_after"].sum())
    failed = rows[rows["status"] != "migrated"]
    return {
        "store": cfg.store,
        "out": cfg.out or cfg.store,
        "registry": cfg.registry,
        "records": int(len(rows)),
        "migrated": int(len(ok)),
        "not_migrated": int(len(failed)),
        "status_counts": {str(k): int(v) for k, v in rows["status"].value_counts().items()},
        "generations": {str(k): int(v) for k, v in rows["generation"].value_counts().items()},
        "blob_bytes_before": before,
        "blob_bytes_after": after,
        "blob_ratio": round(before / after, 3) if after else None,
        "file_bytes_before": int(rows["file_before"].sum()),
        "file_bytes_after": int(rows["file_after"].sum()),
        "by_domain": {
            str(d): {"records": len(g), "blob_bytes_before": int(g["blob_before"].sum()), "blob_bytes_after": int(g["blob_after"].sum())}
            for d, g in ok.groupby("domain")
        },
        "by_model": [
            {"domain": r.domain, "version": int(r.version) or None, "codec": r.codec, "records": int(r.records)}
            for r in by_model.itertuples()
        ],
        "not_migrated_records": [{"name": r.name, "status": r.status, "error": r.error} for r in failed.itertuples()],
        "seconds": round(seconds, 1),
        "records_per_s": round(len(rows) / seconds, 1) if seconds else None,
    }


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"migrated {r['migrated']} of {r['records']} records in {r['seconds']} s ({r['records_per_s']} records/s); "
        f"{r['not_migrated']} copied unchanged",
        f"blob bytes {r['blob_bytes_before']} -> {r['blob_bytes_after']} (ratio {r['blob_ratio']}); "
        f"files {r['file_bytes_before']} -> {r['file_bytes_after']}",
    ]
    lines += [f"  {m['domain']}@{m['version'] or 'stub'} {m['codec']}: {m['records']}" for m in r["by_model"]]
    lines += [f"  not migrated: {x['name']}: {x['status']} {x['error']}" for x in r["not_migrated_records"][:20]]
    return "\n".join(lines)


def migrate(
    store: Annotated[str, typer.Option(help="Warm-store root (holds records/), local dir or s3://.")],
    out: Annotated[Optional[str], typer.Option(help="New root to write (default: in place, staged and switched).")] = None,
    registry: Annotated[Optional[str], typer.Option(help="Models registry (default: $NBMF_REGISTRY).")] = None,
    class_policy: Annotated[Optional[str], typer.Option("--class-policy", help="Class -> (domain, fidelity) YAML.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Migrating actors (default: the cluster's CPUs).")] = None,
    address: Annotated[Optional[str], typer.Option("--address", help="Ray address (default: local or the job's cluster).")] = None,
) -> None:
    """Re-encode a memory-service warm store with the production models (every record verified; none dropped)."""
    fields = dict(store=store, out=out, registry=registry, class_policy=class_policy, workers=workers, ray_address=address)
    report = run_or_exit(lambda: run(parse_config(MigrateConfig, fields, "nbmf migrate")))
    if report["not_migrated"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(migrate)
