"""Format 12's post mixer against format 11, on one trained model (#15, thirty-seventh session).

    python bench/post_mix_ab.py REGISTRY DOMAIN RECORDS

Loads version 1 of DOMAIN from REGISTRY (its predictor, reference and CM config, a format 11 model) and codes the
first RECORDS held-out records of data/corpus/DOMAIN.jsonl four ways: as it is (format 11), with and without the
predictor; with the post mixer (``CMConfig.post_mix``), without the predictor (the post mixer stays the identity and
learns within each record), and with it, its weights learned first on up to ``build.POST_RECORDS`` val records of the
same split (``CMState.learn_post``, as ``nbmf train`` does). Payload bytes (no frame header); every record is decoded
back and compared. Prints the bytes, the payload ratio and the predictor's share (bytes without / bytes with - 1).
"""

from __future__ import annotations

import dataclasses
import sys
import time

from nbmf.config import ModelConfig
from nbmf.neural.build import learn_post, split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def main() -> None:
    registry, domain, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    w, ref, cm, _ = unpack_files(Registry(registry).load_files(domain, 1)[1])
    sp = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))
    test = sp["test"][:n]
    orig = sum(len(x) for x in test)
    sizes: dict[tuple[bool, bool], int] = {}
    for post in (False, True):
        for use_nn in (False, True):
            t = time.time()
            if post and use_nn:
                st = learn_post(
                    w, ref, ModelConfig(cm=cm.model_copy(update={"post_mix": True})), sp["val"], lambda s: print(s, flush=True)
                )[1]
            else:
                st = CMState.build(dataclasses.replace(cm_config(cm), post_mix=post), ref, w, use_nn=use_nn)
            coded = [st.encode(x, 2 * len(x) + 64) for x in test]
            assert all(st.decode(c, len(x)) == x for c, x in zip(coded, test)), "a record did not decode exactly"
            sizes[post, use_nn] = sum(len(c) for c in coded)
            ratio, secs = orig / sizes[post, use_nn], time.time() - t
            print(
                f"post mixer {post!s:5} predictor {use_nn!s:5}: {sizes[post, use_nn]} bytes, payload ratio {ratio:.3f} ({secs:.0f} s)",
                flush=True,
            )
            del st
    for post in (False, True):
        print(f"{domain} post mixer {post}: share {sizes[post, False] / sizes[post, True] - 1:+.2%}")
    saved, core = 1 - sizes[True, True] / sizes[False, True], 1 - sizes[True, False] / sizes[False, False]
    print(f"{domain}: the post mixer saves {saved:+.2%} of the bytes with the predictor, {core:+.2%} without")


if __name__ == "__main__":
    main()
