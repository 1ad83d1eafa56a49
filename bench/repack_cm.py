"""Copy a registry's production models into another registry with one CM setting changed: the same
trained neural weights, the same reference and dictionary, so a bench of the two registries measures
that setting alone (e.g. the table's ways, artifact format 4, on models trained for format 3).

    python bench/repack_cm.py SRC_REGISTRY DST_REGISTRY '{"ways": 4}' [DOMAIN ...]
then  bash bench/neural_bench.sh - DST_REGISTRY
"""

import json
import sys

from nbmf.config import CMParams
from nbmf.neural.codec import WEIGHTS_FILE, artifact_format, pack_files, unpack_files
from nbmf.registry import Registry

if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, dst, change = Registry(sys.argv[1]), Registry(sys.argv[2]), json.loads(sys.argv[3])
    for domain in sys.argv[4:] or src.domains():
        version = src.channels(domain).production
        if version is None:
            print(f"{domain}: no production version in {sys.argv[1]}, skipped", file=sys.stderr)
            continue
        man, files = src.load_files(domain, version)
        weights, reference, cm, use_neural = unpack_files(files)
        new_cm = CMParams.model_validate({**cm.model_dump(), **change})
        files = {**files, **pack_files(weights, reference, new_cm, use_neural)}
        config = {**man.config, "cm": new_cm.model_dump(mode="json")}
        metrics = {**man.metrics, "repacked_from": f"{sys.argv[1]} {domain}@{version}", "cm_change": change}
        new = dst.publish(domain, files, config=config, metrics=metrics, data_manifest=man.data_manifest)
        dst.promote(domain, new.version, reason=f"bench/repack_cm.py {json.dumps(change)}")
        fmt = artifact_format(new_cm)
        assert json.loads(files[WEIGHTS_FILE][8 : 8 + int.from_bytes(files[WEIGHTS_FILE][:8], "little")])["__metadata__"]["format"] == fmt
        print(f"{domain}@{version} -> {sys.argv[2]} {domain}@{new.version} ({fmt}, {change})")
