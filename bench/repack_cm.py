"""Copy a registry's production models into another registry with one CM setting changed: the same
trained neural weights, the same reference and dictionary, so a bench of the two registries measures
that setting alone (e.g. the table's ways, artifact format 4, on models trained for format 3).

    python bench/repack_cm.py SRC_REGISTRY DST_REGISTRY '{"ways": 4}' [DOMAIN ...]
    python bench/repack_cm.py SRC_REGISTRY DST_REGISTRY '{}' --reference-mb 16 [DOMAIN ...]
    python bench/repack_cm.py SRC_REGISTRY DST_REGISTRY '{"nibbles": true}' --version 1 [DOMAIN ...]
then  bash bench/neural_bench.sh - DST_REGISTRY

``--version N``: repack version N of each domain instead of its production version (a registry a build wrote
without promoting, e.g. the documented path's before ``nbmf promote``).

``--reference-mb``: also a new reference of that size, chosen from data/corpus/<domain>.jsonl's train
split exactly as ``nbmf build --reference-mb`` chooses it (the weights stay: they were trained on the
same split), so the bench measures the reference size alone.
"""

import json
import sys

from nbmf.config import CMParams
from nbmf.neural.build import select_reference, split_bytes
from nbmf.neural.codec import WEIGHTS_FILE, artifact_format, pack_files, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry

if __name__ == "__main__":
    args = sys.argv[1:]
    reference_mb, pinned = None, None
    if "--version" in args:
        at = args.index("--version")
        pinned = int(args[at + 1])
        del args[at : at + 2]
    if "--reference-mb" in args:
        at = args.index("--reference-mb")
        reference_mb = float(args[at + 1])
        del args[at : at + 2]
    if len(args) < 3:
        sys.exit(__doc__)
    src, dst, change = Registry(args[0]), Registry(args[1]), json.loads(args[2])
    for domain in args[3:] or src.domains():
        version = pinned if pinned is not None else src.channels(domain).production
        if version is None:
            print(f"{domain}: no production version in {args[0]}, skipped", file=sys.stderr)
            continue
        man, files = src.load_files(domain, version)
        weights, reference, cm, use_neural = unpack_files(files)
        config = dict(man.config)
        if reference_mb is not None:
            train = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))["train"]
            reference = select_reference(train, int(reference_mb * (1 << 20)))
            config["reference_bytes"] = int(reference_mb * (1 << 20))
        new_cm = CMParams.model_validate({**cm.model_dump(), **change})
        files = {**files, **pack_files(weights, reference, new_cm, use_neural)}
        config["cm"] = new_cm.model_dump(mode="json")
        metrics = {**man.metrics, "repacked_from": f"{args[0]} {domain}@{version}", "cm_change": change, "reference_bytes": len(reference)}
        new = dst.publish(domain, files, config=config, metrics=metrics, data_manifest=man.data_manifest)
        dst.promote(domain, new.version, reason=f"bench/repack_cm.py {json.dumps(change)} reference {len(reference)} bytes")
        fmt = artifact_format(new_cm)
        assert json.loads(files[WEIGHTS_FILE][8 : 8 + int.from_bytes(files[WEIGHTS_FILE][:8], "little")])["__metadata__"]["format"] == fmt
        print(f"{domain}@{version} -> {args[1]} {domain}@{new.version} ({fmt}, {change}, reference {len(reference)} bytes)")
