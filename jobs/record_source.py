"""The collect job's Ray Data source: read tasks that parse and shape input files, and key projection.

Kept apart from ``jobs.collect`` so that importing the CLI does not import Ray Data.
"""

from __future__ import annotations

import functools
from typing import Any

import ray
from ray.data import Datasource, ReadTask

from nbmf.errors import StorageError
from nbmf.selection import KEY_COLUMNS


class RecordFiles(Datasource):
    """A Ray Data source of records: each read task reads its files and shapes them (``shape_file``).

    Parsing in the read task keeps file bytes out of the object store and runs read and shape as
    one operator; files are spread over tasks by size. A file that vanished since the listing becomes
    a malformed-input row naming it (skipped and counted, or fatal with --fail-on-bad); any other
    read failure (storage not answering) fails the job with a StorageError naming the file.
    """

    BLOCK_BYTES = 64 << 20  # a task yields a block whenever this much input has been shaped

    def __init__(self, filesystems: list[Any], files: list[tuple[int, str, int, str | None]], shape_args: tuple[Any, ...]):
        super().__init__()
        self.filesystems = filesystems
        self.files = files  # (filesystem index, path, size, default domain)
        self.shape_args = shape_args

    def estimate_inmemory_data_size(self) -> int | None:
        return sum(f[2] for f in self.files) or None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None) -> list[ReadTask]:
        from ray.data.block import BlockMetadata

        from nbmf.shaping import RECORD_SCHEMA

        bins: list[list[tuple[int, str, int, str | None]]] = [[] for _ in range(max(1, min(parallelism, len(self.files))))]
        loads = [0] * len(bins)
        for f in sorted(self.files, key=lambda f: (-f[2], f[1])):  # biggest first, onto the lightest task
            k = loads.index(min(loads))
            bins[k].append(f)
            loads[k] += max(f[2], 1)
        tasks = []
        for group, load in zip(bins, loads):
            if not group:
                continue
            meta = BlockMetadata(num_rows=None, size_bytes=load, exec_stats=None, input_files=tuple(f[1] for f in group))
            tasks.append(ReadTask(functools.partial(self._read, group), meta, schema=RECORD_SCHEMA))
        return tasks

    def _read(self, group: list[tuple[int, str, int, str | None]]) -> Any:
        import pyarrow as pa

        from nbmf.shaping import RECORD_SCHEMA, shape_file

        pending: list[Any] = []
        size = 0
        for fs_index, path, _, domain in group:
            try:
                with self.filesystems[fs_index].open_input_stream(path) as stream:
                    data = stream.readall()
            except FileNotFoundError as exc:
                from nbmf.corpus import rebuild_if_builtin

                if rebuild_if_builtin(path):  # a made built-in file this node has not made yet
                    with self.filesystems[fs_index].open_input_stream(path) as stream:
                        data = stream.readall()
                    pending.append(shape_file(path, data, domain, *self.shape_args))
                    continue
                # gone since the listing: a malformed input, counted
                pending.append(pa.Table.from_pylist([{"bad": f"{path}: cannot read ({exc})"}], schema=RECORD_SCHEMA))
                continue
            except OSError as exc:  # storage that stopped answering fails the job, naming the file
                raise StorageError(f"cannot read input {path}: {exc}") from None
            pending.append(shape_file(path, data, domain, *self.shape_args))
            size += len(data)
            if size >= self.BLOCK_BYTES:
                yield pa.concat_tables(pending)
                pending, size = [], 0
        if pending:
            yield pa.concat_tables(pending)


@ray.remote  # 1 CPU like Ray Data's tasks: a new resource shape would wait for a fresh worker lease
def _project(block: Any) -> Any:
    return block.select(KEY_COLUMNS)


def keys_of(ds: Any) -> Any:
    """The KEY_COLUMNS of a materialized dataset as one Arrow table, projected where each block lives (the text stays put)."""
    import pyarrow as pa

    from nbmf.shaping import RECORD_SCHEMA

    parts = ray.get([_project.remote(ref) for ref in ds.to_arrow_refs()])
    return pa.concat_tables(parts) if parts else RECORD_SCHEMA.empty_table().select(KEY_COLUMNS)
