"""A format 12 (``--once``: 13, ``--runs``: 14) model from an older one: the same predictor and reference, the post mixer learned anew.

    python bench/repack_post.py SOURCE_REGISTRY DOMAIN TARGET_REGISTRY [--sized] [--once [--runs]] [--place PLACE] [--order-sets]
        [--cm JSON]

Reads version 1 of DOMAIN from SOURCE_REGISTRY, learns the post mixer's weights on the val split of
data/corpus/DOMAIN.jsonl (``nbmf.neural.build.learn_post``) and publishes the result as a candidate in TARGET_REGISTRY,
so that ``nbmf bench --registry TARGET_REGISTRY`` measures a format 12 model on frames (#15, thirty-seventh session).
``--sized``: also size the core's tables by the reference as a build now does (``CMParams.sized_for``; thirty-eighth).
``--once``: and a context seen once takes one slot (``CMParams.once``: format 13; thirty-ninth session); the post mixer
is learned on that core.
``--runs`` (with ``--once``): and keeps it while the same byte follows (``CMParams.runs``: format 14; fortieth session).
``--place mixers|post|best``: where the predictor enters (``ModelConfig.predictor_place``; ``post`` is format 15,
``best`` primes both and keeps the one that codes the check records smaller; forty-first session). Default: mixers.
The match models' trust (format 16, forty-second session) is chosen on the check records as a build chooses it, unless
the source model names one.
``--order-sets``: the build primes with and without the mixers' order sets (``CMParams.order_sets``: format 17;
forty-third session) and keeps the one that codes the check records smaller; without it, as the source model has them.
``--cm JSON``: CM params to set before priming, e.g. ``'{"lr": 5, "lr_record": null}'`` (forty-fourth session: the
priming rate, and the record rate left for the build to choose on the check records).
"""

from __future__ import annotations

import json
import sys

from nbmf.config import ModelConfig
from nbmf.neural.build import place_predictor, publish, sized, split_bytes
from nbmf.neural.codec import REFERENCE_FILE, WEIGHTS_FILE, artifact_format, pack_files, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def main() -> None:
    source, domain, target = sys.argv[1], sys.argv[2], sys.argv[3]
    open_sizes = "--sized" in sys.argv[4:]
    once = "--once" in sys.argv[4:]
    runs = once and "--runs" in sys.argv[4:]
    order_sets = "--order-sets" in sys.argv[4:]
    place = sys.argv[sys.argv.index("--place") + 1] if "--place" in sys.argv[4:] else "mixers"
    man, files = Registry(source).load_files(domain, 1)
    w, ref, cm, _ = unpack_files(files)
    config = dict(man.config)
    config.pop("zstd_dict_id", None)
    cfg = ModelConfig.model_validate(config)
    sets = None if order_sets else cm.order_sets  # None: the build chooses
    cm = cm.model_copy(update={"post_mix": True, "once": once, "runs": runs, "order_sets": sets})
    if "--cm" in sys.argv[4:]:
        cm = cm.model_validate({**cm.model_dump(), **json.loads(sys.argv[sys.argv.index("--cm") + 1])})
    cfg = cfg.model_copy(update={"cm": cm, "predictor_place": place})
    if open_sizes:
        cfg = sized(cfg.model_copy(update={"cm": cfg.cm.model_copy(update={"table_bits": None, "match_bits": None})}), len(ref))
    val = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))["val"]
    metrics = dict(man.metrics)
    w, _, cfg = place_predictor(w, ref, cfg, val, metrics, print)
    out = dict(files)
    out.update(pack_files(w, ref, cfg.cm))
    assert out[REFERENCE_FILE] == files[REFERENCE_FILE]
    if out[WEIGHTS_FILE] == files[WEIGHTS_FILE]:  # e.g. a format 14 model kept in the mixers: the same artifact
        print(f"{domain}: the artifact is the source's, byte for byte")
    new = publish(Registry(target), domain, out, cfg, metrics)
    fmt = artifact_format(cfg.cm)
    print(f"published {domain}@{new.version} ({fmt}, predictor_place {metrics['predictor_place']}) in {target}")


if __name__ == "__main__":
    main()
