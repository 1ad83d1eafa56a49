"""Which model versions a warm store's blobs still need: counts per (generation, domain, version, codec).

    records/*.json --open (envelope)--> payload --blob meta + frame header--> (generation, domain, version, codec, ref)

An operator reads it before retiring a version (``nbmf retire`` refuses while any blob names it). The
frame header's model reference (domain tag, version, hash prefix) is what decode follows, so that is
what is matched — not the descriptive meta.

``verify``: also decode every blob in this process (frame checksum and all) and list those that do not
decode -- e.g. neural frames coded, before commit 6a80906, by a process whose primed state a record that
did not shrink had left changed (docs/NEURAL.md, "Safety"): they decode only in the process that coded them.
"""

from __future__ import annotations

import collections
import functools
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from nbmf import frame as fr
from nbmf.blob import blob_frame, is_nbmf_blob
from nbmf.envelope import is_envelope, key_from_env, open_envelope
from nbmf.errors import NBMFError
from nbmf.storage import Store
from nbmf.warm_store import RECORDS, is_blob

if TYPE_CHECKING:
    from nbmf.codec import NBMF

PROGRESS_EVERY = 1000


def blob_model(payload: Any) -> tuple[str, str | None, int | None, str, str | None]:
    """(generation, domain, version, codec, ref) of a stored payload; ref = "tag:version:hash" of its frame
    (a v2 to v4 frame has no hash prefix: "tag:version:"; a v5 frame names a serial: "serial:N", and its
    version is the blob meta's ``model_version``, shown only: matching goes by the serial)."""
    if not is_blob(payload):
        return ("plain", None, None, "", None)
    if not is_nbmf_blob(payload):
        return (str(payload["meta"].get("encoder_version") or "stub"), None, None, "stub-blob", None)
    header, _ = fr.unpack(blob_frame(payload, 1 << 26))
    ref = header.model
    domain = payload["meta"].get("encoder_domain")
    if ref is None:
        ref_s, version = None, None
    elif ref.serial_only:  # version 5: the registry serial alone; the version the encoder recorded is for display
        meta_version = payload["meta"].get("model_version")
        ref_s, version = f"serial:{ref.serial}", meta_version if type(meta_version) is int else None
    else:
        ref_s, version = f"{ref.domain_tag}:{ref.version}:{ref.hash_prefix.hex()}", ref.version
    return ("nbmf/1", domain if isinstance(domain, str) else None, version, header.codec.name.lower(), ref_s)


def _one(store: Store, name: str, key: bytes | None, verify: NBMF | None = None) -> tuple[tuple[Any, ...] | None, str | None, str | None]:
    """(generation, domain, version, codec, ref) of one record, why it is unreadable, why its blob does not decode."""
    try:
        doc = json.loads(store.read_bytes(name))
        if is_envelope(doc):
            doc = json.loads(open_envelope(doc, key, name))
        if not isinstance(doc, dict) or "payload" not in doc:
            return None, f"{name}: not a warm-store record", None
        got = blob_model(doc["payload"])
    except (NBMFError, ValueError, RecursionError) as exc:
        return None, f"{name}: {type(exc).__name__}: {exc}"[:300], None
    bad = None
    if verify is not None and got[0] != "plain":
        try:
            verify.decode(doc["payload"])
        except NBMFError as exc:
            bad = f"{name}: {type(exc).__name__}: {exc}"[:300]
    return got, None, bad


def census(
    roots: Iterable[str | Store],
    aes_key: bytes | None = None,
    threads: int = 16,
    verify: NBMF | None = None,
    progress: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Counts over every record of the stores at ``roots`` (local or s3://); unreadable files are listed.
    ``verify``: decode every blob with this codec too; those that do not decode are counted and listed.
    ``progress`` hears every ``PROGRESS_EVERY`` records and the end of each store."""
    key = aes_key if aes_key is not None else key_from_env()
    counts: collections.Counter[tuple[Any, ...]] = collections.Counter()
    unreadable: list[str] = []
    undecodable: list[str] = []
    total = 0
    for root in roots:
        records = (root if isinstance(root, Store) else Store(root)).child(RECORDS)
        names = [n for n in records.list() if n.endswith(".json") and not n.startswith(".")]
        total += len(names)
        with ThreadPoolExecutor(threads) as pool:  # object storage answers one request at a time per call
            for done, (got, err, bad) in enumerate(pool.map(functools.partial(_one, records, key=key, verify=verify), names), 1):
                if got is None:
                    unreadable.append(str(err))
                else:
                    counts[got] += 1
                if bad is not None:
                    undecodable.append(bad)
                if done % PROGRESS_EVERY == 0 or done == len(names):
                    what = "decoded" if verify is not None else "read"
                    progress(f"{root}: {done}/{len(names)} records {what} ({len(unreadable)} unreadable, {len(undecodable)} do not decode)")
    rows = [
        {"generation": g, "domain": d, "version": v, "codec": c, "ref": r, "records": n}
        for (g, d, v, c, r), n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    ]
    out = {"records": total, "by_model": rows, "unreadable": len(unreadable), "unreadable_examples": unreadable[:50]}
    if verify is not None:
        out |= {"verified": True, "undecodable": len(undecodable), "undecodable_examples": sorted(undecodable)[:50]}
    return out


def blobs_naming(result: dict[str, Any], ref: fr.ModelRef) -> int:
    """How many blobs in a census result may name this (complete) model reference: a v1 frame names it by
    tag, version and hash prefix, a v2 to v4 frame by tag and version (its checksum is keyed by the artifact),
    a v5 frame by the registry serial."""

    def names(ref_s: str | None) -> bool:
        if not ref_s:
            return False
        if ref_s.startswith("serial:"):
            return fr.ModelRef.by_serial(int(ref_s[7:])).names(ref)
        tag, version, prefix = ref_s.split(":")
        return fr.ModelRef(int(tag), int(version), bytes.fromhex(prefix)).names(ref)

    return sum(int(r["records"]) for r in result["by_model"] if names(r["ref"]))


def format_census(result: dict[str, Any]) -> str:
    head = f"{result['records']} records ({result['unreadable']} unreadable"
    head += f"; every blob decoded: {result['undecodable']} did not)" if result.get("verified") else ")"
    lines = [head, "generation  domain        version  codec       records"]
    for r in result["by_model"]:
        lines.append(
            f"{r['generation']:<11} {str(r['domain'] or '-'):<13} {str(r['version'] or '-'):<8} {r['codec'] or '-':<11} {r['records']}"
        )
    lines += [f"does not decode: {e}" for e in result.get("undecodable_examples", [])]
    return "\n".join(lines)
