"""Cold model load (registry -> first decode) and memory per replica, with and without the primed-state cache.

    python bench/model_load_bench.py [--reference-mb 8] [--versions-per-domain 2]

Publishes 4 domains x ``--versions-per-domain`` model versions with the shipped context-mixing config
(2^23-slot tables), each primed on a different reference of ``--reference-mb`` MiB from the built-in
corpus (this machine has technical and legal text: general and financial get other slices of them).
Every measurement runs in a fresh process (as a new replica would):
  off    NBMF_PRIMED_CACHE=off: registry -> sha256 -> priming -> first decode (the code before)
  fill   an empty cache directory: the same, plus writing the primed state (the first replica of a node)
  warm   the cache filled: registry -> sha256 -> map the primed state -> first decode (every later replica)
and a process holding all versions, off vs warm: RSS and PSS (/proc/self/smaps_rollup; PSS splits pages
shared between processes). Writes bench/results/model_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from results_io import save  # noqa: E402

DOMAINS = {"technical": ("technical", 0), "legal": ("legal", 0), "general": ("technical", 1), "financial": ("legal", 1)}


def memory_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower() + "_mb"] = round(int(rest.split()[0]) / 1024, 1)
    return out


def child(registry: str, mode: str, keys: list[str]) -> dict[str, object]:
    """In a fresh process: load each version and decode one record with it; times and memory."""
    from nbmf.codec import NBMF
    from nbmf.frame import CodecId
    from nbmf.registry import Registry

    reg = Registry(registry)
    codec = NBMF(reg, cache_size=len(keys))
    out: dict[str, object] = {"mode": mode, "before": memory_mb(), "loads": []}
    for key in keys:
        domain, version = key.split("@")
        frame = reg.models.read_bytes(f"{domain}/{version}/bench_frame")
        t0 = time.perf_counter()
        model = codec.load(domain, int(version))
        loaded = time.perf_counter() - t0
        codec.decode(frame)
        first = time.perf_counter() - t0
        source = model.codecs[CodecId.NEURAL].state.source  # type: ignore[attr-defined]
        out["loads"].append({"model": key, "load_s": round(loaded, 3), "first_decode_s": round(first, 3), "source": source})  # type: ignore[attr-defined]
    out["after"] = memory_mb()
    return out


def run_child(registry: str, mode: str, keys: list[str], cache: str, share: bool = False) -> dict[str, object]:
    env = dict(os.environ, NBMF_PRIMED_CACHE=cache, NBMF_PRIMED_SHARE="1" if share else "0")
    r = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--registry", registry, "--keys", ",".join(keys)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(r.stdout.strip().splitlines()[-1])


def publish_all(root: str, reference_mb: float, versions: int) -> list[str]:
    from nbmf.config import ModelConfig
    from nbmf.corpus import local_records
    from nbmf.neural.build import build_files
    from nbmf.registry import Registry

    reg = Registry(root)
    keys = []
    texts = {d: [r["text"].encode() for r in local_records(d)] for d in {src for src, _ in DOMAINS.values()}}
    for domain, (src, slice_) in DOMAINS.items():
        recs = texts[src]
        for v in range(versions):
            part = recs[(slice_ * versions + v) % 4 :: 4] or recs  # a different reference per domain and version
            cfg = ModelConfig(use_neural=False, reference_bytes=int(reference_mb * (1 << 20)))
            files, _ = build_files(part, part[:20], cfg)
            man = reg.publish(domain, files, config=cfg.model_dump(mode="json"))
            keys.append(f"{domain}@{man.version}")
            print(f"published {domain}@{man.version} ({len(part)} records)", file=sys.stderr)
    return keys


def _lossless():  # type: ignore[no-untyped-def]
    from nbmf.payload import Fidelity, PayloadType

    return Fidelity.LOSSLESS, PayloadType.BYTES


def model_frames(root: str, keys: list[str]) -> None:
    """Replace each bench frame by one its own model coded (so the first decode uses the model)."""
    from nbmf.codec import NBMF
    from nbmf.corpus import local_records
    from nbmf.registry import Registry

    reg = Registry(root)
    for key in keys:
        domain, version = key.split("@")
        src = DOMAINS[domain][0]
        record = next(iter(local_records(src, limit=1)))["text"].encode()
        codec = NBMF(reg)
        model = codec.load(domain, int(version))
        reg.models.write_bytes(f"{domain}/{version}/bench_frame", codec.encode_bytes(record, *_lossless(), model).frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference-mb", type=float, default=8.0)
    ap.add_argument("--versions-per-domain", type=int, default=2)
    ap.add_argument(
        "--rerun-warm", nargs=2, metavar=("REGISTRY", "CACHE"), default=None,
        help="measure only the warm loads again, on a registry and cache an earlier run left (keeps its other figures)",
    )  # fmt: skip
    ap.add_argument(
        "--shelf", default=None, metavar="REGISTRY_URI",
        help="measure a fresh node's first load from the registry's shelf (one 8 MiB version; a local dir or s3:// "
        "URI, with AWS_* / NBMF_S3_* set for S3); writes bench/results/model_load_shelf.json",
    )  # fmt: skip
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--registry", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--keys", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.registry, args.child, args.keys.split(","))))
        return
    if args.shelf:
        shelf_main(args)
        return
    if args.rerun_warm:
        root, cache = args.rerun_warm
        prev = json.loads((Path(__file__).parent / "results" / "model_load.json").read_text())
        keys = prev["versions"]
        prev["results"]["one_version"]["warm"] = run_child(root, "warm", keys[:1], cache)
        prev["results"]["all_versions"]["warm"] = run_child(root, "warm", keys, cache)
        prev["warm_rerun"] = {"command": "python " + " ".join(sys.argv), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        save("model_load", prev)
        return
    t0 = time.time()
    os.environ["NBMF_PRIMED_SHARE"] = "0"  # these figures are of one node (--shelf measures the shelf)
    root = tempfile.mkdtemp(prefix="nbmf-load-bench-")
    cache = tempfile.mkdtemp(prefix="nbmf-load-bench-primed-")
    keys = publish_all(root, args.reference_mb, args.versions_per_domain)
    os.environ["NBMF_PRIMED_CACHE"] = "off"
    model_frames(root, keys)
    one = keys[:1]
    results = {
        "one_version": {
            "off": run_child(root, "off", one, "off"),
            "fill": run_child(root, "fill", one, cache),
            "warm": run_child(root, "warm", one, cache),
        }
    }
    print(json.dumps(results["one_version"], indent=1), file=sys.stderr)
    for key in keys[1:]:  # fill the cache for every version (as the first replica of a node would)
        run_child(root, "fill", [key], cache)
    results["all_versions"] = {"off": run_child(root, "off", keys, "off"), "warm": run_child(root, "warm", keys, cache)}
    out = {
        "command": "python " + " ".join(sys.argv),
        "reference_mb": args.reference_mb,
        "versions": keys,
        "cache_bytes": sum(p.stat().st_size for p in Path(cache).glob("*.primed")),
        "results": results,
        "seconds": round(time.time() - t0, 1),
    }
    save("model_load", out)


def shelf_main(args: argparse.Namespace) -> None:
    """One version: the first node primes and shares (fill), a fresh node unpacks from the shelf (shelf),
    that node's next process reads its own disk (warm)."""
    from nbmf.registry import Registry

    t0 = time.time()
    global DOMAINS
    DOMAINS = {"technical": DOMAINS["technical"]}
    keys = publish_all(args.shelf, args.reference_mb, 1)
    os.environ["NBMF_PRIMED_CACHE"] = "off"
    os.environ["NBMF_PRIMED_SHARE"] = "0"
    model_frames(args.shelf, keys)
    node_a = tempfile.mkdtemp(prefix="nbmf-load-bench-node-a-")
    node_b = tempfile.mkdtemp(prefix="nbmf-load-bench-node-b-")
    results = {
        "fill": run_child(args.shelf, "fill", keys, node_a, share=True),  # first node: primes, keeps, shares
        "shelf": run_child(args.shelf, "shelf", keys, node_b),  # a fresh node: unpacks from the shelf
        "warm": run_child(args.shelf, "warm", keys, node_b),  # that node's next process: its own disk
    }
    domain, version = keys[0].split("@")
    shelf = Registry(args.shelf).primed(domain, int(version))
    blob_bytes = sum(len(shelf.store.read_bytes(f"{n}.zprimed")) for n in shelf.names())
    out = {
        "command": "python " + " ".join(sys.argv),
        "reference_mb": args.reference_mb,
        "registry": "s3" if args.shelf.startswith("s3://") else "local",
        "versions": keys,
        "shelf_blob_bytes": blob_bytes,
        "node_file_bytes": sum(p.stat().st_size for p in Path(node_b).glob("*.primed")),
        "results": results,
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(out, indent=1), file=sys.stderr)
    save("model_load_shelf" + ("_s3" if out["registry"] == "s3" else ""), out)


if __name__ == "__main__":
    main()
